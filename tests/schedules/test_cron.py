"""Cron expressions in a time zone (fabro/schedules/cron.py): what is accepted, fire times
across daylight saving time, and the missed-fire arithmetic that must not walk every fire."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from fabro.schedules.cron import MAX_COUNTED, Cron, CronError


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("expression", "zone"),
    [
        ("61 * * * *", "UTC"),
        ("* * * * * *", "UTC"),  # seconds: croniter reads them, fabro does not
        ("* * * *", "UTC"),
        ("@fortnightly", "UTC"),
        ("0 0 31 2 *", "UTC"),  # valid fields, never a date
        ("H * * * *", "UTC"),
        ("", "UTC"),
        ("0 9 * * *", "Mars/Olympus"),
        ("0 9 * * *", "../../../etc/passwd"),
        ("0 9 * * *", "/etc/localtime"),
    ],
)
def test_refused(expression: str, zone: str) -> None:
    with pytest.raises(CronError):
        Cron.parse(expression, zone)


def test_macros_and_spacing_are_normalised() -> None:
    assert Cron.parse("  0   9 * *  1-5 ", "UTC").expression == "0 9 * * 1-5"
    assert Cron.parse("@Daily", "UTC").expression == "@daily"


def test_fire_times_follow_the_wall_clock_of_the_zone() -> None:
    nine = Cron.parse("0 9 * * *", "America/New_York")
    # Daylight saving time starts on 2026-03-08 in New York: 14:00 UTC before, 13:00 after.
    assert nine.next_after(utc(2026, 3, 7, 0, 0)) == utc(2026, 3, 7, 14, 0)
    assert nine.next_after(utc(2026, 3, 7, 14, 0)) == utc(2026, 3, 8, 13, 0)


def test_a_wall_time_that_happens_twice_fires_once() -> None:
    # Clocks go back at 03:00 in Berlin on 2026-10-25: 02:30 happens twice.
    daily = Cron.parse("30 2 * * *", "Europe/Berlin")
    first = daily.next_after(utc(2026, 10, 24, 12, 0))
    assert first == utc(2026, 10, 25, 0, 30)
    assert daily.next_after(first) == utc(2026, 10, 26, 1, 30)
    # An hourly schedule fires in both hours: an hour did pass.
    hourly = Cron.parse("0 * * * *", "Europe/Berlin")
    assert hourly.next_after(utc(2026, 10, 25, 0, 0)) == utc(2026, 10, 25, 1, 0)


def test_a_wall_time_that_does_not_happen_fires_just_after() -> None:
    # Clocks go forward at 02:00 in Berlin on 2026-03-29: 02:30 does not exist that day.
    daily = Cron.parse("30 2 * * *", "Europe/Berlin")
    assert daily.next_after(utc(2026, 3, 28, 12, 0)) == utc(2026, 3, 29, 1, 0)


def test_the_latest_fire_is_at_or_before() -> None:
    hourly = Cron.parse("0 * * * *", "UTC")
    assert hourly.latest_at_or_before(utc(2026, 1, 1, 5, 0)) == utc(2026, 1, 1, 5, 0)
    assert hourly.latest_at_or_before(utc(2026, 1, 1, 5, 59)) == utc(2026, 1, 1, 5, 0)
    assert hourly.latest_at_or_before(utc(2026, 1, 1, 4, 59, 59)) == utc(2026, 1, 1, 4, 0)


def test_counting_missed_fires_is_bounded() -> None:
    every_minute = Cron.parse("* * * * *", "UTC")
    began = time.monotonic()
    latest = every_minute.latest_at_or_before(utc(2026, 2, 1, 0, 0, 30))
    count, more = every_minute.count_between(utc(2026, 1, 1), latest)
    assert latest == utc(2026, 2, 1, 0, 0)
    assert (count, more) == (MAX_COUNTED, True)
    assert time.monotonic() - began < 2.0
    hourly = Cron.parse("0 * * * *", "UTC")
    assert hourly.count_between(utc(2026, 1, 1, 10), utc(2026, 1, 1, 13)) == (4, False)
