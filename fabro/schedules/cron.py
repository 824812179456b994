"""Cron expressions in a time zone: checking them, and their fire times as UTC instants.

croniter reads the expression; the arithmetic happens on the wall clock of the schedule's
zone (``zoneinfo``), so `0 9 * * *` in America/New_York is 09:00 there in summer and in
winter. Every result is an aware UTC datetime: the database stores UTC only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from croniter import croniter

MAX_CRON_CHARS = 200
# Standard cron only: five fields (minute hour day month weekday) or a named macro. croniter
# would also read six or seven (seconds, years): no fabro schedule fires every second.
MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
# Missed fires counted one by one before the count is given as "more than": a `* * * * *`
# schedule down for a month must not cost a loop of 43,200 steps.
MAX_COUNTED = 1000
_PROBE = datetime(2000, 1, 1, tzinfo=UTC)  # a fixed start: whether an expression ever fires


class CronError(ValueError):
    """An expression or time zone fabro does not accept; the message says why."""


@lru_cache(maxsize=1)
def zone_names() -> frozenset[str]:
    """The names of the installed zone database (tzdata's when the system has none), read
    once: it walks a folder tree (the ticker reads it at start, off the event loop)."""
    return frozenset(available_timezones())


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; CronError if unknown. Only names of the zone database
    reach ZoneInfo, so a request's text never names a file."""
    if name not in zone_names():
        raise CronError(f"unknown time zone {name!r} (an IANA name such as Europe/Paris)")
    return ZoneInfo(name)


@dataclass(frozen=True)
class Cron:
    """A checked cron expression in a time zone."""

    expression: str
    zone: ZoneInfo

    @classmethod
    def parse(cls, expression: str, time_zone: str) -> Cron:
        text = " ".join(expression.split())
        if not text or len(text) > MAX_CRON_CHARS:
            raise CronError(f"a cron expression has 1 to {MAX_CRON_CHARS} characters")
        if text.startswith("@"):
            if text.lower() not in MACROS:
                raise CronError(f"unknown macro {text!r} (one of {', '.join(MACROS)})")
            text = text.lower()
        elif len(text.split(" ")) != 5:
            raise CronError("a cron expression has five fields: minute hour day month weekday")
        try:
            valid = croniter.is_valid(text)
        except Exception:  # croniter's own parser on hostile text: any error is a "no"
            valid = False
        if not valid:
            raise CronError(f"not a valid cron expression: {text!r}")
        try:  # valid, yet perhaps never due (`0 0 31 2 *`): croniter searches, then gives up
            croniter(text, _PROBE).get_next(datetime)
        except Exception:
            raise CronError(f"{text!r} never fires") from None
        return cls(text, zone(time_zone))

    @property
    def _fixed_hours(self) -> bool:
        """Whether the expression names its hours (09:30 daily) rather than every hour."""
        if self.expression.startswith("@"):
            return self.expression != "@hourly"
        return "*" not in self.expression.split(" ")[1]

    def next_after(self, moment: datetime) -> datetime:
        """The first fire strictly after ``moment`` (UTC).

        When clocks go back, a wall time happens twice; a schedule that names its hours fires
        at the first of them only (as cron does), one that runs every hour fires at both.
        """
        local = moment.astimezone(self.zone)
        found: datetime = croniter(self.expression, local).get_next(datetime)
        if self._fixed_hours and _same_wall_time(found, local):
            found = croniter(self.expression, found).get_next(datetime)
        return found.astimezone(UTC)

    def latest_at_or_before(self, moment: datetime) -> datetime:
        """The last fire at or before ``moment`` (UTC), found directly, however long ago."""
        # croniter's get_prev is strictly before its start and works in whole seconds.
        start = (moment + timedelta(seconds=1)).astimezone(self.zone)
        found: datetime = croniter(self.expression, start).get_prev(datetime)
        if found > moment:
            found = croniter(self.expression, found).get_prev(datetime)
        if self._fixed_hours:
            earlier: datetime = croniter(self.expression, found).get_prev(datetime)
            if _same_wall_time(earlier, found):  # the repeat of a wall time: not a fire
                found = earlier
        return found.astimezone(UTC)

    def count_between(self, first: datetime, last: datetime) -> tuple[int, bool]:
        """How many fires lie in [first, last] (both fires), and whether the count stopped at
        MAX_COUNTED (then there are more)."""
        if last < first:
            return 0, False
        count, current = 1, first
        while count < MAX_COUNTED:
            current = self.next_after(current)
            if current > last:
                return count, False
            count += 1
        return count, self.next_after(current) <= last


def _same_wall_time(a: datetime, b: datetime) -> bool:
    return a.replace(tzinfo=None, fold=0) == b.replace(tzinfo=None, fold=0)
