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
    u = moment.astimezone(UTC)
    # Fields by hand: strftime costs ~3x as much, and the engine stamps every write.
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
        f".{u.microsecond // 1000:03d}Z"
    )


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


_last_stamp: tuple[int, str] = (-1, "")  # (millisecond, its text): one write, thread-safe


def now_ts() -> str:
    """The current time as ``format_ts`` writes it (formatted once per millisecond)."""
    global _last_stamp
    ms = time.time_ns() // 1_000_000
    last = _last_stamp
    if last[0] == ms:
        return last[1]
    seconds, millis = divmod(ms, 1000)
    t = time.gmtime(seconds)
    text = (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}"
        f":{t.tm_sec:02d}.{millis:03d}Z"
    )
    _last_stamp = (ms, text)
    return text
