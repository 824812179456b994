"""Building the authenticator chain from Settings, its startup warnings, and the zero-config
token banner."""

from __future__ import annotations

from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from fabro.auth.chain import AuthChain, Authenticator
from fabro.auth.jwt import JwtAuthenticator
from fabro.auth.keys import (
    UnusableKeyError,
    default_private_key_path,
    default_public_key_path,
    mint_token,
    parse_private_key,
    parse_public_key,
    pem_text,
    read_key_file,
)
from fabro.auth.mtls import MtlsAuthenticator
from fabro.auth.signin_links import signin_link
from fabro.config import Settings
from fabro.errors import StartupError

PUBLIC_KEY_ENV = "FABRO_JWT_PUBLIC_KEY"
BANNER_TOKEN_TTL_S = 24 * 3600


def build_auth_chain(settings: Settings, env: Mapping[str, str]) -> AuthChain:
    """The configured strategies in order; StartupError (one line) when one cannot work."""
    authenticators: list[Authenticator] = []
    for strategy in settings.api.authentication_strategies:
        if strategy == "jwt":
            authenticators.append(
                JwtAuthenticator(
                    load_public_key(settings, env),
                    issuer=settings.api.jwt.issuer,
                    audience=settings.api.jwt.audience,
                    allowed_usernames=settings.web.auth.allowed_usernames,
                )
            )
        elif strategy == "mtls":
            tls = settings.api.tls
            if tls is None or tls.ca is None:
                raise StartupError(
                    "the mtls authentication strategy requires [api.tls] with cert, key and ca"
                )
            authenticators.append(MtlsAuthenticator(tls.allowed_common_names))
        else:  # the config loader only admits the two names above
            raise StartupError(f"unknown authentication strategy: {strategy}")
    return AuthChain(authenticators)


def auth_warnings(settings: Settings) -> list[str]:
    """Configurations that start but cannot let anyone in, one line each (printed at startup)."""
    warnings = []
    if "jwt" in settings.api.authentication_strategies and not settings.web.auth.allowed_usernames:
        warnings.append(
            "JWT authentication is on but [web.auth] allowed_usernames is empty: "
            "every token will be refused (403)"
        )
    return warnings


def load_public_key(settings: Settings, env: Mapping[str, str]) -> Ed25519PublicKey:
    """The first available of FABRO_JWT_PUBLIC_KEY, api.jwt.public_key_file, the data-dir key."""
    source = PUBLIC_KEY_ENV
    try:
        if env.get(PUBLIC_KEY_ENV):
            return parse_public_key(pem_text(env[PUBLIC_KEY_ENV]))
        path = settings.api.jwt.public_key_file or default_public_key_path(settings.data_dir)
        source = str(path)
        if settings.api.jwt.public_key_file is None and not path.exists():
            raise UnusableKeyError("no such file")
        return parse_public_key(read_key_file(path))
    except UnusableKeyError as exc:
        reason = f"{source}: {exc}"
        raise StartupError(
            "the jwt authentication strategy needs an Ed25519 public key: set "
            f"{PUBLIC_KEY_ENV} or api.jwt.public_key_file ({reason})"
        ) from None


def zero_config_banner(settings: Settings, env: Mapping[str, str], url: str) -> str | None:
    """The zero-config text printed once after `listening on` (§5); None outside zero-config."""
    if not settings.zero_config:
        return None
    user = settings.web.auth.allowed_usernames[0]
    lines = [f'No server.toml found: zero-config mode, JWT authentication for user "{user}".']
    if env.get(PUBLIC_KEY_ENV):
        lines.append(
            f"{PUBLIC_KEY_ENV} is set: tokens must be signed by its private key "
            "(sub = the user above, iss = "
            f'"{settings.api.jwt.issuer}"); no token printed.'
        )
        return "\n".join(lines)
    try:
        key = parse_private_key(read_key_file(default_private_key_path(settings.data_dir)))
    except UnusableKeyError:
        return None  # ensure_zero_config_keys has run; a vanished key just means no banner
    token = mint_token(
        key,
        subject=user,
        issuer=settings.api.jwt.issuer,
        audience=settings.api.jwt.audience,
        ttl_s=BANNER_TOKEN_TTL_S,
    )
    link = signin_link(
        key,
        url,
        subject=user,
        issuer=settings.api.jwt.issuer,
        audience=settings.api.jwt.audience,
    )
    lines += [
        "Bearer token (valid 24 hours):",
        "",
        f"    {token}",
        "",
        f'Try:  curl -H "Authorization: Bearer {token}" {url.rstrip("/")}/user',
        "New token later:  fabro token",
        "",
        f"  Sign in to the web UI: {link}",
        "(the link works once, for 15 minutes; a new one:  fabro token --link)",
    ]
    return "\n".join(lines)
