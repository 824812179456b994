"""The memory of verified JWTs (fabro/auth/verified.py): it must never answer differently from
a full verification, only faster."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fabro.auth.chain import Credentials
from fabro.auth.jwt import LEEWAY_S, JwtAuthenticator
from fabro.auth.verified import VerifiedToken, VerifiedTokens
from fabro.errors import Forbidden, Unauthorized

ISSUER = "fabro-web"
START = float(int(time.time()))


class Clock:
    """One settable "now" for the cache and for PyJWT's claim checks."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    frozen = Clock(START)

    class FrozenDatetime(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> Any:
            return dt.datetime.fromtimestamp(frozen.now, tz)

    monkeypatch.setattr(jwt.api_jwt, "datetime", FrozenDatetime)
    yield frozen


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def authenticator(key: Ed25519PrivateKey, clock: Clock) -> JwtAuthenticator:
    made = JwtAuthenticator(key.public_key(), issuer=ISSUER, allowed_usernames=["alice"])
    made.verified = VerifiedTokens(clock=clock)
    return made


class CountingVerify:
    """Counts the full verifications an authenticator does."""

    def __init__(self, authenticator: JwtAuthenticator) -> None:
        self.calls = 0
        self._verify = authenticator.verify
        authenticator.verify = self  # type: ignore[method-assign]

    def __call__(self, token: str) -> dict[str, Any]:
        self.calls += 1
        return self._verify(token)


def token(key: Ed25519PrivateKey, **claims: Any) -> str:
    now = int(START)
    body: dict[str, Any] = {"iss": ISSUER, "sub": "alice", "iat": now, "exp": now + 600}
    body.update(claims)
    return jwt.encode(body, key, algorithm="EdDSA")


def login(authenticator: JwtAuthenticator, value: str) -> str:
    principal = authenticator.authenticate(Credentials(authorization=f"Bearer {value}"))
    assert principal is not None
    return principal.login


def test_a_token_is_verified_once_while_it_is_reused(
    authenticator: JwtAuthenticator, key: Ed25519PrivateKey
) -> None:
    counter = CountingVerify(authenticator)
    value = token(key)
    for _ in range(5):
        assert login(authenticator, value) == "alice"
    assert counter.calls == 1
    assert len(authenticator.verified) == 1


def test_a_cached_token_expires_exactly_when_a_fresh_verification_says_so(
    authenticator: JwtAuthenticator, key: Ed25519PrivateKey, clock: Clock
) -> None:
    exp = int(START) + 100
    value = token(key, exp=exp)
    assert login(authenticator, value) == "alice"  # now remembered
    clock.now = exp + LEEWAY_S - 0.5  # still inside PyJWT's leeway
    assert login(authenticator, value) == "alice"
    clock.now = exp + LEEWAY_S  # PyJWT: exp <= now - leeway is expired
    with pytest.raises(Unauthorized, match=r"^Token expired\.$"):
        login(authenticator, value)
    assert len(authenticator.verified) == 0  # forgotten, and never cached as a failure
    with pytest.raises(Unauthorized, match=r"^Token expired\.$"):
        login(authenticator, value)


def test_a_cached_token_is_not_served_before_it_was_valid(
    authenticator: JwtAuthenticator, key: Ed25519PrivateKey, clock: Clock
) -> None:
    nbf = int(START) + 30  # valid now thanks to the leeway
    value = token(key, nbf=nbf)
    assert login(authenticator, value) == "alice"
    clock.now = nbf - LEEWAY_S - 1  # the clock went back: verification would refuse it
    with pytest.raises(Unauthorized, match=r"^Token not yet valid\.$"):
        login(authenticator, value)


def test_a_different_token_is_never_served_from_the_cache(
    authenticator: JwtAuthenticator, key: Ed25519PrivateKey
) -> None:
    value = token(key)
    assert login(authenticator, value) == "alice"
    header, payload, signature = value.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    with pytest.raises(Unauthorized, match=r"^Invalid token signature\.$"):
        login(authenticator, f"{header}.{payload}.{flipped}")
    other = token(Ed25519PrivateKey.generate())  # same claims, another key
    with pytest.raises(Unauthorized, match=r"^Invalid token signature\.$"):
        login(authenticator, other)
    assert len(authenticator.verified) == 1  # failures are not remembered


def test_failures_are_verified_every_time(
    authenticator: JwtAuthenticator, key: Ed25519PrivateKey
) -> None:
    counter = CountingVerify(authenticator)
    bad = token(Ed25519PrivateKey.generate())
    for _ in range(3):
        with pytest.raises(Unauthorized):
            login(authenticator, bad)
    assert counter.calls == 3
    assert len(authenticator.verified) == 0


def test_the_allow_list_is_checked_on_every_request(
    authenticator: JwtAuthenticator, key: Ed25519PrivateKey
) -> None:
    value = token(key)
    assert login(authenticator, value) == "alice"
    authenticator.allowed_usernames = frozenset({"bob"})  # as a reload would change it
    with pytest.raises(Forbidden):
        login(authenticator, value)
    authenticator.allowed_usernames = frozenset({"alice"})
    assert login(authenticator, value) == "alice"
    mallory = token(key, sub="mallory")  # a verified token whose user is not allowed
    with pytest.raises(Forbidden):
        login(authenticator, mallory)
    authenticator.allowed_usernames = frozenset({"alice", "mallory"})
    assert login(authenticator, mallory) == "mallory"


def test_a_new_key_issuer_or_audience_empties_the_cache(
    authenticator: JwtAuthenticator, key: Ed25519PrivateKey
) -> None:
    value = token(key)
    assert login(authenticator, value) == "alice"
    authenticator.public_key = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(Unauthorized, match=r"^Invalid token signature\.$"):
        login(authenticator, value)
    authenticator.public_key = key.public_key()
    assert login(authenticator, value) == "alice"
    authenticator.issuer = "someone-else"
    with pytest.raises(Unauthorized, match=r"^Invalid token issuer\.$"):
        login(authenticator, value)
    authenticator.issuer = ISSUER
    authenticator.audience = "fabro"
    with pytest.raises(Unauthorized, match=r"^Invalid token audience\.$"):
        login(authenticator, value)


def test_the_cache_is_bounded_and_forgets_the_oldest_first() -> None:
    cache = VerifiedTokens(max_entries=3, clock=lambda: START)
    scope = ("key", ISSUER, None)
    entry = VerifiedToken("alice", START - 60, START + 600)
    for n in range(5):
        cache.put(f"token-{n}", scope, entry)
    assert len(cache) == 3
    assert cache.get("token-0", scope) is None and cache.get("token-1", scope) is None
    assert all(cache.get(f"token-{n}", scope) == entry for n in (2, 3, 4))
    cache.put("token-4", scope, entry)  # replacing an entry evicts nothing
    assert len(cache) == 3


def test_a_bounded_cache_needs_room_for_one() -> None:
    with pytest.raises(ValueError):
        VerifiedTokens(max_entries=0)
