"""Rate limits per principal and class of route ([rate_limits], fabro/governance/limits.py).

Fixed one-minute windows rather than GCRA: the RateLimit-* headers then mean exactly what they
say (the quota of this window, what is left of it, seconds until the next one), the state is
one counter per (principal, class), and the whole map is dropped when a window ends, so it
never holds more than one minute's principals. The price, up to twice the limit across a
window's edge, does not matter for a limit that is there to stop a runaway script.

Every authenticated request is counted once: by ``limit_request`` after authentication (the
API's routes in app.py, the web UI's after its sign-in check), or by the fast lane for the
200s it answers itself. Public routes (/health, /, /openapi.json, the sign-in pages) are not.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from quart import Response, current_app, g, request

from fabro.errors import TooManyRequests
from fabro.governance.limits import RateLimitSettings

WINDOW_S = 60
# Beyond this many (principal, class) counters in one window, new principals share one counter
# per class: memory stays bounded whoever authenticates, and they are still limited.
MAX_COUNTERS = 100_000
OVERFLOW = "\x00overflow"
CONFIG_KEY = "FABRO_RATE_LIMITER"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Endpoints that start a run: the API's and the web UI's new-run form.
RUN_START_ENDPOINTS = frozenset({"startRun", "ui.start_run"})


@dataclass(frozen=True)
class Quota:
    """One request's standing in its window."""

    kind: str  # reads, writes or run_starts
    limit: int
    remaining: int
    reset_s: int  # seconds until the window ends (at least 1)
    allowed: bool

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_s)
        return headers

    def encoded(self) -> list[tuple[bytes, bytes]]:
        """The headers as ASGI sends them (the fast lane's answers)."""
        return [(name.lower().encode(), value.encode()) for name, value in self.headers().items()]

    def refusal(self) -> TooManyRequests:
        detail = (
            f"Rate limit exceeded: {self.limit} {self.kind.replace('_', ' ')} per minute "
            f"([rate_limits] {self.kind}); retry after {self.reset_s} s."
        )
        return TooManyRequests(detail, headers=self.headers())


class RateLimiter:
    """Counters of one server process, in memory (a restart starts every window afresh)."""

    def __init__(
        self, settings: RateLimitSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._window = -1
        self._counts: dict[tuple[str, str], int] = {}

    def take(self, login: str, kind: str) -> Quota | None:
        """Count one request of ``login`` in class ``kind``; None when the class is unlimited."""
        limit = self.settings.per_minute(kind)
        if limit == 0:
            return None
        now = self.clock()
        window = int(now // WINDOW_S)
        if window != self._window:
            self._window, self._counts = window, {}
        key = (login, kind)
        if key not in self._counts and len(self._counts) >= MAX_COUNTERS:
            key = (OVERFLOW, kind)
        used = self._counts.get(key, 0) + 1
        self._counts[key] = min(used, limit + 1)  # refused requests need no exact count
        reset_s = max(1, math.ceil((window + 1) * WINDOW_S - now))
        return Quota(kind, limit, max(0, limit - used), reset_s, used <= limit)

    def __len__(self) -> int:
        return len(self._counts)


def rate_class(method: str, endpoint: str | None) -> str:
    if method in SAFE_METHODS:
        return "reads"
    return "run_starts" if endpoint in RUN_START_ENDPOINTS else "writes"


def limiter() -> RateLimiter:
    found: RateLimiter = current_app.config[CONFIG_KEY]
    return found


def limit_request(login: str) -> None:
    """Count this request for ``login``; TooManyRequests (429) when over its class's limit."""
    quota = limiter().take(login, rate_class(request.method, request.endpoint))
    if quota is None:
        return
    g.rate_quota = quota  # the response's headers (``quota_headers``), a 429's too
    if not quota.allowed:
        raise quota.refusal()


def quota_headers(response: Response) -> None:
    """The RateLimit-* headers of a counted request on its response."""
    quota: Quota | None = g.get("rate_quota")
    if quota is not None:
        response.headers.update(quota.headers())
