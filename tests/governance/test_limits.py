"""The [rate_limits] and [idempotency] readers: grammar, defaults, errors naming file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from fabro.config_file import FileSource, read_toml
from fabro.errors import StartupError
from fabro.governance.limits import (
    IdempotencySettings,
    RateLimitSettings,
    read_idempotency,
    read_rate_limits,
)


def source(tmp_path: Path, text: str) -> FileSource:
    path = tmp_path / "server.toml"
    path.write_text(text, encoding="utf-8")
    return FileSource(path, read_toml(path))


def failure(tmp_path: Path, text: str) -> str:
    with pytest.raises(StartupError) as caught:
        found = source(tmp_path, text)
        read_rate_limits(found)
        read_idempotency(found)
    return str(caught.value)


def test_every_key_is_read(tmp_path: Path) -> None:
    text = (
        "port = 1\n[rate_limits]\nreads = 10\nwrites = 0\nrun_starts = 3\n"
        '[idempotency]\nwindow = "30m"\n'
    )
    found = source(tmp_path, text)
    assert read_rate_limits(found) == RateLimitSettings(reads=10, writes=0, run_starts=3)
    assert read_idempotency(found) == IdempotencySettings(window_s=1800)


def test_without_the_tables_the_defaults_hold(tmp_path: Path) -> None:
    found = source(tmp_path, "port = 1\n")
    assert read_rate_limits(found) == RateLimitSettings(reads=6000, writes=600, run_starts=120)
    assert read_idempotency(found).window_s == 24 * 3600
    partial = source(tmp_path, "[rate_limits]\nwrites = 5\n")
    assert read_rate_limits(partial) == RateLimitSettings(writes=5)


@pytest.mark.parametrize(
    ("window", "seconds"),
    [('"90s"', 90), ('"30m"', 1800), ('"24h"', 86400), ('"7d"', 7 * 86400), ("600", 600)],
)
def test_a_window_is_a_duration_or_seconds(tmp_path: Path, window: str, seconds: int) -> None:
    found = source(tmp_path, f"[idempotency]\nwindow = {window}\n")
    assert read_idempotency(found).window_s == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[rate_limits]\nreads = -1\n",
            ":2: rate_limits.reads must be an integer between 0 and 1000000000 (got -1)",
        ),
        (
            '[rate_limits]\nwrites = "many"\n',
            ':2: rate_limits.writes must be an integer between 0 and 1000000000 (got "many")',
        ),
        (
            "[rate_limits]\nreads = 1\nread = 5\n",
            ":3: unknown key rate_limits.read (reads, writes, run_starts)",
        ),
        ("rate_limits = 5\n", ":1: rate_limits must be a table (got 5)"),
        ('[idempotency]\nwindow = "1y"\n', ':2: idempotency.window must be a duration like "30m"'),
        ('[idempotency]\nwindow = "31d"\n', "at most 30 days"),
        ("[idempotency]\nwindow = 0\n", ":2: idempotency.window must be"),
        ("[idempotency]\nwindow = true\n", ":2: idempotency.window must be"),
        ('[idempotency]\nwindow = "1h"\nttl = 5\n', ":3: unknown key idempotency.ttl (window)"),
    ],
)
def test_a_bad_value_or_unknown_key_names_the_line(tmp_path: Path, text: str, message: str) -> None:
    found = failure(tmp_path, text)
    assert str(tmp_path / "server.toml") in found and message in found, found
