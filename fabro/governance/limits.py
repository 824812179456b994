"""Rate limits and the idempotency window, from server.toml's [rate_limits] and [idempotency].

```toml
[rate_limits]          # requests per minute per principal, by class (0: unlimited)
reads = 6000           # GET routes
writes = 600           # POST/PUT/PATCH/DELETE, except starting a run
run_starts = 120       # POST /runs (and the web UI's new-run form)
[idempotency]
window = "24h"         # how long an Idempotency-Key is remembered: "30m", "24h", "7d" or seconds
```

The defaults are far above what a person, the web UI or the CLI sends (the UI follows runs over
SSE), and stop a script that loops without waiting: one polling with no pause sends thousands
of reads a minute.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fabro import config_values as valid
from fabro.config_file import FileSource
from fabro.errors import StartupError

RATE_CLASSES = ("reads", "writes", "run_starts")
MAX_PER_MINUTE = 1_000_000_000
MAX_WINDOW_S = 30 * 86400

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"\s*(\d{1,9})\s*([smhd]?)\s*")


@dataclass(frozen=True)
class RateLimitSettings:
    """Requests per minute per principal for each class of route; 0 is unlimited."""

    reads: int = 6000
    writes: int = 600
    run_starts: int = 120

    def per_minute(self, kind: str) -> int:
        limit: int = getattr(self, kind)
        return limit


@dataclass(frozen=True)
class IdempotencySettings:
    window_s: int = 24 * 3600  # how long a key is remembered after its first request


def read_rate_limits(source: FileSource) -> RateLimitSettings:
    _check_keys(source, "rate_limits", RATE_CLASSES)
    defaults = RateLimitSettings()
    limits: dict[str, int] = {}
    for kind in RATE_CLASSES:
        key = f"rate_limits.{kind}"
        if source.has(key):
            limits[kind] = source.get(key, valid.int_in(0, MAX_PER_MINUTE))
        else:
            limits[kind] = defaults.per_minute(kind)
    return RateLimitSettings(**limits)


def read_idempotency(source: FileSource) -> IdempotencySettings:
    _check_keys(source, "idempotency", ("window",))
    if not source.has("idempotency.window"):
        return IdempotencySettings()
    return IdempotencySettings(window_s=source.get("idempotency.window", duration))


def duration(value: Any) -> int:
    """Seconds from `90s`, `30m`, `24h`, `7d` or a number of seconds; 1 s to 30 days."""
    seconds = 0
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and (match := _DURATION.fullmatch(value)):
        seconds = int(match[1]) * _UNITS[match[2] or "s"]
    if not 0 < seconds <= MAX_WINDOW_S:
        raise valid.Invalid('a duration like "30m", "24h" or "7d" (or seconds), at most 30 days')
    return seconds


def _check_keys(source: FileSource, table: str, known: tuple[str, ...]) -> None:
    """A StartupError naming file:line for a table that is no table or holds an unknown key."""
    if not source.has(table):
        return
    if not source.has_table(table):
        source.get(table, _not_a_table)
    document: dict[str, Any] = source.get(table, lambda value: value)
    for key in document:
        if key not in known:
            where = source.where(f"{table}.{key}")
            raise StartupError(f"{where}: unknown key {table}.{key} ({', '.join(known)})")


def _not_a_table(value: Any) -> Any:
    raise valid.Invalid("a table")
