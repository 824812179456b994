from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from fabro.clock import format_ts, now_ts, parse_ts


class FrozenClock:
    def now(self) -> datetime:
        return datetime(2030, 1, 2, 3, 4, 5, 6789, tzinfo=UTC)

    def monotonic(self) -> float:
        return 0.0


def test_a_timestamp_is_utc_with_milliseconds_cut_not_rounded() -> None:
    moment = datetime(2030, 1, 2, 5, 4, 5, 999_999, tzinfo=timezone(timedelta(hours=2)))
    assert format_ts(moment) == "2030-01-02T03:04:05.999Z"
    assert format_ts(datetime(2030, 1, 2, tzinfo=UTC)) == "2030-01-02T00:00:00.000Z"


def test_a_timestamp_reads_back_as_the_same_moment() -> None:
    text = "2030-01-02T03:04:05.006Z"
    assert format_ts(parse_ts(text)) == text


def test_now_ts_takes_the_time_of_the_clock_it_is_given() -> None:
    assert now_ts(FrozenClock()) == "2030-01-02T03:04:05.006Z"
    assert parse_ts(now_ts()).tzinfo is not None  # the system clock by default
