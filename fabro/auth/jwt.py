"""The JWT authenticator (config-and-auth.md §4.1, §4.2): EdDSA bearer tokens."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from fabro.auth.chain import Credentials, Principal
from fabro.auth.verified import VerifiedToken, VerifiedTokens
from fabro.errors import Forbidden, Unauthorized

ALGORITHM = "EdDSA"
LEEWAY_S = 60
REQUIRED_CLAIMS = ("exp", "iat", "iss")

# Tokens fabro mints are ~250 bytes; a generous cap keeps base64/JSON/signature work on
# hostile input bounded (Hypercorn already limits the whole header block to 16 KiB).
MAX_TOKEN_BYTES = 8 * 1024

# Three base64url parts; the signature may be empty so that `alg: none` tokens reach the
# algorithm check and get the precise answer. This also rejects "two tokens" in one header.
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")

INVALID_TOKEN = "Invalid token."
NO_USERNAME = "Access denied: the token's 'sub' names no user."
_SHOWN_NAME_CHARS = 64


def not_allowed(username: str) -> str:
    """The 403 detail for a genuine token whose user is not in the allow-list."""
    shown = username if len(username) <= _SHOWN_NAME_CHARS else username[:_SHOWN_NAME_CHARS] + "…"
    return f"Access denied: user {shown!r} is not in [web.auth] allowed_usernames."


def bearer_token(authorization: str | None) -> str | None:
    """The token of a `Bearer` Authorization header (scheme case-insensitive), else None."""
    if authorization is None:
        return None
    parts = authorization.split(None, 1)
    if not parts or parts[0].lower() != "bearer":
        return None
    return parts[1].strip() if len(parts) == 2 else ""


class JwtAuthenticator:
    """Verifies EdDSA tokens against one Ed25519 public key and an allow-list of usernames."""

    method = "jwt"

    def __init__(
        self,
        public_key: Ed25519PublicKey,
        *,
        issuer: str,
        allowed_usernames: Sequence[str],
        audience: str | None = None,
    ) -> None:
        self.public_key = public_key
        self.issuer = issuer
        self.audience = audience
        self.allowed_usernames = frozenset(allowed_usernames)
        self.verified = VerifiedTokens()

    def authenticate(self, credentials: Credentials) -> Principal | None:
        token = bearer_token(credentials.authorization)
        if token is None:
            return None
        # The cache answers for what verify() checks with these parameters; the allow-list
        # below is applied to every request, so a changed list takes effect at once.
        scope = (self.public_key, self.issuer, self.audience)
        known = self.verified.get(token, scope)
        if known is None:
            claims = self.verify(token)
            known = _verified_token(claims)
            self.verified.put(token, scope, known)
        username = known.username
        if username is None:
            raise Forbidden(NO_USERNAME)
        # An empty allow-list denies every token: fail closed (§4.2). The detail says why: the
        # token is genuine (its signature verified), so naming its own user tells nothing new.
        if username not in self.allowed_usernames:
            raise Forbidden(not_allowed(username))
        return Principal(login=username, method="jwt")

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a valid token, or Unauthorized with the §4.1 detail."""
        if len(token) > MAX_TOKEN_BYTES or not _COMPACT_JWS.fullmatch(token):
            raise Unauthorized(INVALID_TOKEN)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Unauthorized(INVALID_TOKEN) from None
        # Checked before any key use, so `none`/HS*/RS* never reach a verifier (no alg confusion).
        if header.get("alg") != ALGORITHM:
            raise Unauthorized("Unsupported token algorithm.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.public_key,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                audience=self.audience,
                leeway=LEEWAY_S,
                # `sub` is judged by the allow-list (403), not by PyJWT's type check (401).
                options={"require": list(REQUIRED_CLAIMS), "verify_sub": False},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(_detail(exc, audience_set=self.audience is not None)) from None
        return claims


def _verified_token(claims: dict[str, Any]) -> VerifiedToken:
    """The window in which PyJWT accepts these (verified) claims, with the same leeway."""
    not_before = [int(claims[name]) for name in ("iat", "nbf") if name in claims]
    return VerifiedToken(
        username=username_of(claims.get("sub")),
        valid_from=max(not_before, default=0) - LEEWAY_S,
        valid_until=int(claims["exp"]) + LEEWAY_S,
    )


def _detail(exc: jwt.PyJWTError, *, audience_set: bool) -> str:
    """Map a PyJWT exception to the §4.1 detail (most specific classes first)."""
    if isinstance(exc, jwt.InvalidSignatureError):
        return "Invalid token signature."
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return "Unsupported token algorithm."
    if isinstance(exc, jwt.MissingRequiredClaimError):
        if exc.claim == "aud":  # raised when an audience is configured and the token has none
            return "Invalid token audience."
        return f"Token is missing required claim '{exc.claim}'."
    if isinstance(exc, jwt.InvalidIssuerError):
        return "Invalid token issuer."
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "Token expired."
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "Token not yet valid."
    if isinstance(exc, jwt.InvalidAudienceError):
        return "Invalid token audience." if audience_set else "Unexpected token audience."
    return INVALID_TOKEN


def username_of(subject: object) -> str | None:
    """The part of `sub` after its last `/`, or None when there is none."""
    if not isinstance(subject, str):
        return None
    username = subject.rpartition("/")[2]
    return username or None
