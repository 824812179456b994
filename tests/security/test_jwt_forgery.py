"""The JWT matrix (config-and-auth.md §4.1, §4.2), run through the real app: status + envelope."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from werkzeug.datastructures import Headers

from fabro.app import create_app
from fabro.auth.jwt import MAX_TOKEN_BYTES
from fabro.auth.keys import public_key_pem
from fabro.services import Services
from tests.auth.conftest import SettingsFactory

ISSUER = "fabro-web"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(obj: object) -> str:
    return b64url(json.dumps(obj).encode())


@dataclass(frozen=True)
class Keys:
    """The server's key and helpers to make tokens from it (or not)."""

    server: Ed25519PrivateKey
    other: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": ISSUER, "sub": "alice", "iat": now, "exp": now + 600}
        for name, value in changes.items():
            if value is DROP:
                claims.pop(name, None)
            elif isinstance(value, FromNow):
                claims[name] = now + value.seconds
            else:
                claims[name] = value
        return claims

    def token(self, key: Ed25519PrivateKey | None = None, **changes: Any) -> str:
        return jwt.encode(self.claims(**changes), key or self.server, algorithm="EdDSA")


DROP = object()


@dataclass(frozen=True)
class FromNow:
    """A time claim relative to when the token is made (not to when the cases were built: the
    suite can take minutes, and `exp = now - 30` must stay inside the leeway)."""

    seconds: int


@dataclass(frozen=True)
class Case:
    name: str
    authorization: Callable[[Keys], str | None]
    status: int
    detail: str | None = None  # the error detail, or None for success
    login: str = "alice"
    settings: dict[str, Any] = field(default_factory=dict)


def bearer(**changes: Any) -> Callable[[Keys], str]:
    return lambda keys: f"Bearer {keys.token(**changes)}"


def alg_none(keys: Keys) -> str:
    return f"Bearer {segment({'alg': 'none', 'typ': 'JWT'})}.{segment(keys.claims())}."


def hs256_with_public_key(keys: Keys) -> str:
    # The classic algorithm-confusion attack: HMAC keyed with the server's public key PEM.
    secret = public_key_pem(keys.server.public_key())
    signing_input = f"{segment({'alg': 'HS256', 'typ': 'JWT'})}.{segment(keys.claims())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"Bearer {signing_input}.{b64url(mac)}"


def rs256(keys: Keys) -> str:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return f"Bearer {jwt.encode(keys.claims(), rsa_key, algorithm='RS256')}"


def es256(keys: Keys) -> str:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    return f"Bearer {jwt.encode(keys.claims(), ec_key, algorithm='ES256')}"


def tampered(keys: Keys) -> str:
    header, _, signature = keys.token().split(".")
    return f"Bearer {header}.{segment(keys.claims(sub='root'))}.{signature}"


def other_key(keys: Keys) -> str:
    return f"Bearer {keys.token(key=keys.other)}"


def stripped_signature(keys: Keys) -> str:
    header, payload, _ = keys.token().split(".")
    return f"Bearer {header}.{payload}."


def oversized(keys: Keys) -> str:
    # Correctly signed, but bigger than the documented cap.
    return f"Bearer {keys.token(pad='x' * MAX_TOKEN_BYTES)}"


def not_json_header(keys: Keys) -> str:
    _, payload, signature = keys.token().split(".")
    return f"Bearer {b64url(b'not json')}.{payload}.{signature}"


def two_tokens(separator: str) -> Callable[[Keys], str]:
    return lambda keys: f"Bearer {keys.token()}{separator}{keys.token()}"


def literal(value: str | None) -> Callable[[Keys], str | None]:
    return lambda _keys: value


INVALID = "Invalid token."
UNSUPPORTED = "Unsupported token algorithm."
SIGNATURE = "Invalid token signature."
NO_USER = "Access denied: the token's 'sub' names no user."


def not_allowed(user: str) -> str:
    return f"Access denied: user '{user}' is not in [web.auth] allowed_usernames."


CASES = [
    Case("valid", bearer(), 200),
    Case("lowercase bearer", lambda k: f"bearer {k.token()}", 200),
    Case("uppercase BEARER", lambda k: f"BEARER {k.token()}", 200),
    Case("sub is a URL", bearer(sub="https://github.com/alice"), 200),
    Case("expired within the 60 s leeway", bearer(exp=FromNow(-30)), 200),
    Case("alg none", alg_none, 401, UNSUPPORTED),
    Case("HS256 signed with the public key bytes", hs256_with_public_key, 401, UNSUPPORTED),
    Case("RS256", rs256, 401, UNSUPPORTED),
    Case("ES256", es256, 401, UNSUPPORTED),
    Case("expired", bearer(exp=FromNow(-120)), 401, "Token expired."),
    Case("iat missing", bearer(iat=DROP), 401, "Token is missing required claim 'iat'."),
    Case("exp missing", bearer(exp=DROP), 401, "Token is missing required claim 'exp'."),
    Case("iss missing", bearer(iss=DROP), 401, "Token is missing required claim 'iss'."),
    Case("wrong issuer", bearer(iss="someone-else"), 401, "Invalid token issuer."),
    Case("tampered payload", tampered, 401, SIGNATURE),
    Case("signature from another key", other_key, 401, SIGNATURE),
    Case("signature stripped", stripped_signature, 401, SIGNATURE),
    Case("aud present, none configured", bearer(aud="fabro"), 401, "Unexpected token audience."),
    Case("nbf in the future", bearer(nbf=FromNow(300)), 401, "Token not yet valid."),
    Case("nbf within the leeway", bearer(nbf=FromNow(30)), 200),
    Case("iat in the future", bearer(iat=FromNow(300)), 401, "Token not yet valid."),
    Case("exp not a number", bearer(exp="tomorrow"), 401, INVALID),
    Case("sub missing", bearer(sub=DROP), 403, NO_USER),
    Case("sub empty", bearer(sub=""), 403, NO_USER),
    Case("sub ends with a slash", bearer(sub="https://github.com/alice/"), 403, NO_USER),
    Case("sub not a string", bearer(sub=42), 403, NO_USER),
    Case("user not allowed", bearer(sub="mallory"), 403, not_allowed("mallory")),
    Case("usernames are case-sensitive", bearer(sub="Alice"), 403, not_allowed("Alice")),
    Case(
        "empty allow list",
        bearer(),
        403,
        not_allowed("alice"),
        settings={"allowed_usernames": ()},
    ),
    Case("garbage token", literal("Bearer garbage"), 401, INVALID),
    Case("header not JSON", not_json_header, 401, INVALID),
    Case("empty bearer", literal("Bearer "), 401, INVALID),
    Case("two tokens, space", two_tokens(" "), 401, INVALID),
    Case("two tokens, comma", two_tokens(", Bearer "), 401, INVALID),
    Case("oversized token", oversized, 401, INVALID),
    Case("no header", literal(None), 401, "Authentication required."),
    Case(
        "Basic scheme is not a JWT", literal("Basic YWxpY2U6cHc="), 401, "Authentication required."
    ),
    Case("audience matches", bearer(aud="fabro"), 200, settings={"audience": "fabro"}),
    Case(
        "audience list contains",
        bearer(aud=["other", "fabro"]),
        200,
        settings={"audience": "fabro"},
    ),
    Case(
        "audience does not match",
        bearer(aud="other"),
        401,
        "Invalid token audience.",
        settings={"audience": "fabro"},
    ),
    Case(
        "audience configured, token has none",
        bearer(),
        401,
        "Invalid token audience.",
        settings={"audience": "fabro"},
    ),
    Case("custom issuer", bearer(iss="corp"), 200, settings={"issuer": "corp"}),
]

Call = Callable[[str | None, dict[str, Any]], Awaitable[tuple[int, Any]]]


@pytest.fixture
async def call_user(
    make_settings: SettingsFactory, signing_key: Ed25519PrivateKey
) -> AsyncIterator[Call]:
    """GET /user on a fresh app (real services, temporary data dir) with one header."""
    opened: list[Services] = []

    async def call(authorization: str | None, overrides: dict[str, Any]) -> tuple[int, Any]:
        settings = make_settings(**overrides)
        services = await Services.open(settings, env={})
        opened.append(services)
        app = create_app(settings, services)
        headers = {"Authorization": authorization} if authorization is not None else {}
        async with app.test_app() as test_app:
            response = await test_app.test_client().get("/user", headers=headers)
            return response.status_code, await response.get_json()

    yield call
    for services in opened:
        await services.close()


def test_the_matrix_is_large_enough() -> None:
    assert len(CASES) >= 20
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_jwt_matrix(case: Case, call_user: Call, signing_key: Ed25519PrivateKey) -> None:
    keys = Keys(server=signing_key)
    status, body = await call_user(case.authorization(keys), case.settings)
    assert status == case.status
    if case.detail is None:
        assert body == {"login": case.login}
    else:
        title = {401: "Unauthorized", 403: "Forbidden"}[case.status]
        assert body == {
            "errors": [{"status": str(case.status), "title": title, "detail": case.detail}]
        }


async def test_two_authorization_headers_are_refused(
    make_settings: SettingsFactory, signing_key: Ed25519PrivateKey
) -> None:
    """A valid token in one header never authenticates a request that carries another."""
    settings = make_settings()
    services = await Services.open(settings, env={})
    try:
        app = create_app(settings, services)
        good = bearer()(Keys(server=signing_key))
        async with app.test_app() as test_app:
            client = test_app.test_client()
            alone = await client.get("/user", headers={"Authorization": good})
            assert alone.status_code == 200
            both = Headers([("Authorization", good), ("Authorization", "Bearer garbage")])
            response = await client.get("/user", headers=both)
            assert response.status_code == 401
    finally:
        await services.close()
