"""`fabro token` (config-and-auth.md §8.1): resolve key, issuer and TTL, then mint."""

from __future__ import annotations

import getpass
import re
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fabro.auth.keys import (
    PRIVATE_KEY_ENV,
    UnusableKeyError,
    default_private_key_path,
    mint_token,
    parse_private_key,
    pem_text,
    read_key_file,
)
from fabro.auth.signin_links import signin_link
from fabro.config import Settings, load_settings
from fabro.errors import StartupError
from fabro.server_file import read_server_file

MAX_TTL_S = 30 * 86400
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"\s*(\d+)\s*([smhd]?)\s*")


def parse_ttl(text: str) -> int:
    """Seconds from `90s`, `30m`, `1h`, `7d` (a bare number is seconds); 1 s to 30 d."""
    match = _DURATION.fullmatch(text)
    seconds = int(match[1]) * _UNITS[match[2] or "s"] if match else 0
    if not 0 < seconds <= MAX_TTL_S:
        expectation = "a duration like 30m, 1h or 7d, at most 30d"
        raise StartupError(f'--ttl must be {expectation} (got "{text}")')
    return seconds


def cli_token(
    *,
    user: str | None,
    ttl: str,
    key: Path | None,
    issuer: str | None,
    audience: str | None,
    data_dir: Path | None,
    env: Mapping[str, str],
    link_to: str | None = None,
) -> str:
    """The token `fabro token` prints; StartupError with the §8.1 message on a missing key.

    ``link_to``: print a one-time sign-in link to the web UI at that server URL instead
    (``"auto"``: the server running on this data directory, else the configured URL); the
    link's token lives LINK_TTL_S whatever ``ttl`` says."""
    ttl_s = parse_ttl(ttl)
    flags = {"data_dir": str(data_dir)} if data_dir is not None else {}
    try:
        settings = load_settings(None, env, flags).settings
    except StartupError:
        if key is None or issuer is None:
            raise  # the defaults come from the configuration, so its error matters
        settings = None
    if settings is not None:
        issuer = issuer or settings.api.jwt.issuer
        # A server that requires an audience rejects tokens without one: default to it.
        audience = audience or settings.api.jwt.audience
    if key is not None:
        private_key = _load(key.expanduser(), label=str(key))
    elif env.get(PRIVATE_KEY_ENV):
        private_key = _from_env(env[PRIVATE_KEY_ENV])
    else:
        assert settings is not None
        path = default_private_key_path(settings.data_dir)
        private_key = _load(path, label=str(path))
    subject = user or getpass.getuser()
    if link_to is not None:
        base_url = _server_url(link_to, settings)
        return signin_link(
            private_key, base_url, subject=subject, issuer=issuer or "fabro-web", audience=audience
        )
    return mint_token(
        private_key,
        subject=subject,
        issuer=issuer or "fabro-web",
        audience=audience,
        ttl_s=ttl_s,
    )


def _server_url(link_to: str, settings: Settings | None) -> str:
    if link_to != "auto":
        if not link_to.startswith(("http://", "https://")):
            raise StartupError(f'--server must be an http:// or https:// URL (got "{link_to}")')
        return link_to
    if settings is None:
        raise StartupError("--link needs --server URL when there is no configuration")
    running = read_server_file(settings.data_dir)
    return running.url if running is not None else settings.url


def _load(path: Path, *, label: str) -> Ed25519PrivateKey:
    if not path.exists():
        raise StartupError(
            f"no JWT private key at {path}; start fabro serve once without a server.toml "
            "or pass --private-key"
        )
    try:
        return parse_private_key(read_key_file(path))
    except UnusableKeyError as exc:
        raise StartupError(f"cannot use the JWT private key {label}: {exc}") from None


def _from_env(value: str) -> Ed25519PrivateKey:
    try:
        return parse_private_key(pem_text(value))
    except UnusableKeyError as exc:
        raise StartupError(f"cannot use {PRIVATE_KEY_ENV}: {exc}") from None
