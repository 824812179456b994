"""Time: one timestamp format for the whole system and an injectable clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


def format_ts(moment: datetime) -> str:
    """RFC 3339 in UTC with millisecond precision and a `Z` suffix."""
    if moment.tzinfo is not UTC:  # the system clock's times are UTC already
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


SYSTEM_CLOCK = SystemClock()


def now_ts(clock: Clock = SYSTEM_CLOCK) -> str:
    """``clock``'s current time as ``format_ts`` writes it; the engine passes its injected
    clock (``deps.clock``) so that tests control the timestamps it stores."""
    return format_ts(clock.now())
