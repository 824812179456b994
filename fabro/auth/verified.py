"""A bounded memory of JWTs that passed verification, so a client polling with one token pays
for the Ed25519 signature check once rather than on every request.

Only successes are remembered, keyed by the exact token string: a token that differs in any
byte misses and is verified in full. An entry carries the time window in which the token
verified (from its `iat`/`nbf` and `exp`, widened by the same leeway PyJWT applies), and is
served only inside that window, so a remembered token expires exactly when a fresh
verification would say "Token expired." (the miss then produces that answer). The entry holds
the username from `sub`, not a decision: the allow-list is checked on every request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_MAX_ENTRIES = 1024


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """What a successful verification established, and when it holds (Unix seconds)."""

    username: str | None  # from `sub`; None when it has none (a 403, judged per request)
    valid_from: float  # max(iat, nbf) - leeway: earlier, PyJWT says "not yet valid"
    valid_until: float  # exp + leeway: from then on, PyJWT says "expired"


class VerifiedTokens:
    """Token string -> VerifiedToken, at most ``max_entries`` (the oldest entry goes first).

    ``scope`` is whatever the verification depended on besides the token (key, issuer,
    audience); a lookup under a different scope empties the cache first.
    """

    def __init__(
        self,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, VerifiedToken] = {}
        self._scope: tuple[object, ...] = ()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str, scope: tuple[object, ...]) -> VerifiedToken | None:
        """The remembered verification of ``token``, if it still holds now."""
        if scope != self._scope:
            self._entries.clear()
            self._scope = scope
            return None
        entry = self._entries.get(token)
        if entry is None:
            return None
        now = self._clock()
        if entry.valid_from <= now < entry.valid_until:
            return entry
        # Expired (or the clock went back before iat/nbf): forget it, verify in full.
        self._entries.pop(token, None)
        return None

    def put(self, token: str, scope: tuple[object, ...], entry: VerifiedToken) -> None:
        if scope != self._scope:
            self._entries.clear()
            self._scope = scope
        if token not in self._entries and len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[token] = entry
