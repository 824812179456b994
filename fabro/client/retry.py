"""When the SDK sends a request again: connection errors, 429 and 503, for requests that are
safe to repeat, with exponential backoff and jitter, or after the server's Retry-After."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from fabro.client.calls import Call

RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` more tries at most; waits of ``base_s`` x 2^attempt (half to all of it, at
    random, at most ``max_s``), or what Retry-After asks (at most ``max_retry_after_s``)."""

    retries: int = 3
    base_s: float = 0.25
    max_s: float = 8.0
    max_retry_after_s: float = 60.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, call: Call[Any], attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before sending ``call`` again after try number ``attempt`` (0 for
        the first) ended in ``response`` (None: no answer); None: do not send it again."""
        if not call.retry_safe or attempt >= self.retries:
            return None
        if response is not None:
            if response.status_code not in RETRY_STATUSES:
                return None
            asked = retry_after(response)
            if asked is not None:
                return min(asked, self.max_retry_after_s)
        backoff = min(self.max_s, self.base_s * 2.0**attempt)
        return backoff * (0.5 + self.rng.random() / 2)


def retry_after(response: httpx.Response) -> float | None:
    """The seconds a Retry-After header asks for (delta-seconds or an HTTP date), if any."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
