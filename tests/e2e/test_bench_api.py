"""`scripts/bench api --quick` runs end to end and prints every goal with its verdict."""

from __future__ import annotations

import re
import subprocess
import sys

from bench.loadgen import _dechunk, percentile
from tests.e2e.serverproc import REPO_ROOT


def test_quick_bench_prints_the_table() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.api", "--quick"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    goals = [line for line in lines if re.search(r"  (>=|<=) [\d.]+( ms| MB)?  ", line)]
    assert len(goals) == 5, result.stdout
    assert all(line.endswith(("  met", "  NOT met")) for line in goals), goals
    for measure in (
        "per server CPU-s",
        "SSE fan-out to 20 subscribers, p99",
        "server RSS",
        "ratio SDK / raw httpx",
    ):
        assert any(measure in line for line in goals), (measure, result.stdout)


def test_dechunk_keeps_partial_chunks_for_later() -> None:
    body, rest, ended = _dechunk(b"5\r\nhello\r\n3\r\nab")
    assert (body, rest, ended) == (b"hello", b"3\r\nab", False)
    body, rest, ended = _dechunk(rest + b"c\r\n0\r\n\r\n")
    assert (body, rest, ended) == (b"abc", b"", True)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (
        50.0,
        99.0,
        100.0,
    )
    assert percentile([7.0], 99) == 7.0
