"""`scripts/load` in small: a few clients for a few seconds, every check of the full run."""

from __future__ import annotations

import subprocess
import sys

from bench.loadreport import Outcome, Tally, report, scan_log
from tests.e2e.serverproc import REPO_ROOT

QUICK = ("--clients", "4", "--duration", "3", "--runs", "10")
HEADER = "operation count errors 409/410 ok p50 ms p95 ms p99 ms max ms"
OPERATIONS = (
    "GET /runs",
    "GET /runs/{id}",
    "GET /runs/{id}/events (SSE)",
    "GET /runs/{id}/questions",
    "POST /runs (seed)",
    "POST /runs/{id}/questions/{qid}/answer",
)


def test_quick_load_passes_and_prints_the_table() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.load", *QUICK],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "PASS", result.stdout
    assert lines[1].split() == HEADER.split(), result.stdout
    for operation in OPERATIONS:
        row = next(line for line in lines if line.startswith(f"{operation}  "))
        count, errors = row[len(operation) :].split()[:2]
        assert int(count.replace(",", "")) > 0 and errors == "0", row
    # Every run finished once the load stopped and the gates were answered "Done".
    runs_line = next(line for line in lines if line.startswith("runs: "))
    assert runs_line.endswith(" completed") and "failed" not in runs_line, runs_line


def test_server_log_problems_fail_the_load() -> None:
    outcome = Outcome(server_exit=0)
    scan_log(
        "warning: No LLM provider configured; using the simulated backend\n"
        "2026-01-01 00:00:00,000 INFO fabro.server: fabro server stopped\n",
        outcome,
    )
    assert outcome.problems(Tally()) == []
    scan_log(
        "2026-01-01 00:00:00,000 WARNING asyncio: socket.send() raised exception.\n"
        "2026-01-01 00:00:00,000 ERROR fabro.api: sqlite3.OperationalError: database is locked\n"
        "Traceback (most recent call last):\n",
        outcome,
    )
    assert (outcome.log_locked, outcome.log_tracebacks, len(outcome.log_errors)) == (1, 1, 2)
    text, passed = report("title", Tally(), outcome)
    assert not passed and text.splitlines()[-1].startswith("FAIL: "), text


def test_an_unexpected_status_fails_and_an_expected_race_does_not() -> None:
    tally = Tally()
    tally.record("POST /runs/{id}/questions/{qid}/answer", 5.0, "expected")
    tally.check_body('{"errors":[{"status":"409","title":"Conflict"}]}')
    assert Outcome(server_exit=0).problems(tally) == []
    tally.record("GET /runs", 7.0, "error", "500 Internal server error.")
    tally.check_body('{"detail": "Database is locked"}')
    problems = Outcome(server_exit=0).problems(tally)
    assert problems == ["1 unexpected responses", '1 responses mention "database is locked"']
