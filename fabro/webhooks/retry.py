"""When a failed delivery is tried again, when it is given up, and when a subscription that
keeps failing is disabled. Pure: times are unix seconds passed in, randomness a callable."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

# A delivery is retried for a day: a receiver down over a night still gets everything.
RETRY_FOR_S = 24 * 3600.0
# The first retry after about a second, then doubling up to an hour: ~36 attempts in a day.
FIRST_RETRY_S = 1.0
MAX_RETRY_S = 3600.0
# Disabled after this many failed attempts in a row spanning at least DISABLE_AFTER_S: a busy
# receiver down for a minute fails many attempts at once, and must not be disabled for it.
DISABLE_AFTER_FAILURES = 20
DISABLE_AFTER_S = 3600.0


@dataclass(frozen=True)
class RetryPolicy:
    first_retry_s: float = FIRST_RETRY_S
    max_retry_s: float = MAX_RETRY_S
    retry_for_s: float = RETRY_FOR_S
    disable_after_failures: int = DISABLE_AFTER_FAILURES
    disable_after_s: float = DISABLE_AFTER_S

    def next_attempt(
        self,
        attempts: int,
        created_s: float,
        now_s: float,
        rand: Callable[[], float] = random.random,
    ) -> float | None:
        """When to try again after ``attempts`` failed attempts, or None: give up.

        Exponential backoff with "equal jitter": between half and all of the step, so that
        deliveries failed together (a receiver's outage) do not all come back at once."""
        step = min(self.first_retry_s * 2 ** max(attempts - 1, 0), self.max_retry_s)
        due = now_s + step / 2 + rand() * step / 2
        return due if due - created_s <= self.retry_for_s else None

    def disables(self, failures_in_a_row: int, failing_since_s: float, now_s: float) -> bool:
        """Whether a subscription with this failing streak is to be disabled."""
        return (
            failures_in_a_row >= self.disable_after_failures
            and now_s - failing_since_s >= self.disable_after_s
        )
