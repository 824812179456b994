"""The live progress display of `fabro run` (fabro.standalone.progress), fed stored events."""

from __future__ import annotations

import io
import re
from typing import Any

from fabro.standalone.progress import Progress, elapsed, printable
from fabro.storage.records import EventRecord


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def progress(*, tty: bool, verbose: bool = False) -> tuple[Progress, io.StringIO, Ticks]:
    stream = io.StringIO()
    shown = Progress(stream, tty=tty, verbose=verbose)
    shown.color = False
    ticks = Ticks()
    shown.clock = ticks
    return shown, stream, ticks


def event(variant: str, child_depth: int = 0, **fields: Any) -> EventRecord:
    return EventRecord("R", 1, "t", variant, {variant: fields}, child_depth)


def lines(stream: io.StringIO) -> list[str]:
    """The permanent lines written, without the `[HH:MM:SS] ` of a log."""
    return [re.sub(r"^\[\d\d:\d\d:\d\d\] ", "", line) for line in stream.getvalue().splitlines()]


def test_output_shown_is_safe_for_a_terminal() -> None:
    assert printable("\x1b[31mred\x1b[0m") == "red"
    assert printable("a\x1b]0;title\x07b\rc") == "a\\x1b]0;title\\x07b\\x0dc"
    assert printable("x" * 1200) == "x" * 1000 + "…"
    assert printable("tab\there") == "tab\there"


def test_elapsed_is_minutes_and_seconds_below_an_hour() -> None:
    assert [elapsed(s) for s in (0, 59.9, 61, 3599, 3600, 3723)] == [
        "0:00", "0:59", "1:01", "59:59", "1:00:00", "1:02:03",
    ]  # fmt: skip


def test_a_log_has_one_timestamped_line_per_stage_start_and_end() -> None:
    shown, stream, ticks = progress(tty=False)
    shown(event("StageStarted", node_id="plan", name="Plan"))
    ticks.now += 2.25
    shown(event("StageCompleted", node_id="plan", status="success"))
    shown(event("StageStarted", node_id="build", name="Build"))
    shown(event("StageFailed", node_id="build", will_retry=True, failure={"message": "x"}))
    shown(event("StageRetrying", node_id="build", name="Build", attempt=2, max_attempts=3,
                delay_ms=1500))  # fmt: skip
    ticks.now += 1
    shown(event("StageFailed", node_id="build", will_retry=False,
                failure={"message": "exit 2\nlast lines"}))  # fmt: skip
    assert re.match(r"^\[\d\d:\d\d:\d\d\] start plan \(Plan\)$", stream.getvalue().splitlines()[0])
    assert lines(stream) == [
        "start plan (Plan)",
        "done plan success 2.2s",
        "start build (Build)",
        "retry build attempt 2/3 in 1.5s",  # a failure that will be retried ends nothing
        "fail build 1.0s: exit 2",
    ]


def test_a_terminal_shows_marks_and_elapsed_time_and_clears_the_live_line() -> None:
    shown, stream, ticks = progress(tty=True)
    shown(event("StageStarted", node_id="plan", name="Plan"))
    assert stream.getvalue() == "\r\x1b[2K⠋ Plan (plan)  0:00"  # the live line
    ticks.now += 65
    shown(event("StageCompleted", node_id="plan", status="partial_success"))
    shown(event("StageStarted", node_id="skip", name="Skip"))
    shown(event("StageCompleted", node_id="skip", status="skipped"))
    text = stream.getvalue()
    assert "✓ Plan (plan)  1:05  (partial)\n" in text
    assert "↷ Skip (skip)  0:00\n" in text
    assert "[" not in text.replace("\x1b[2K", "")  # no timestamps at a terminal


def test_branches_are_indented_and_child_workflow_events_are_not_shown() -> None:
    shown, stream, _ = progress(tty=False)
    shown(event("ParallelBranchStarted", branch="b1", index=0))
    shown(event("StageStarted", child_depth=1, node_id="inner", name="Inner"))
    shown(event("ParallelBranchCompleted", branch="b1", index=0, duration_ms=5, status="fail"))
    assert lines(stream) == ["  start b1 (b1)", "  fail b1 0.0s"]


def test_verbose_shows_program_output_per_stage_and_quiet_shows_none() -> None:
    quiet, quiet_stream, _ = progress(tty=False)
    quiet.output("build", "stdout", "hello\n")
    assert quiet_stream.getvalue() == ""
    shown, stream, _ = progress(tty=False, verbose=True)
    shown.output("build", "stdout", "hello\nworld\n")
    shown.output("build", "stderr", "\x1b[31moops\x1b[0m\n")
    assert lines(stream) == ["  [build] hello", "  [build] world", "  [build:stderr] oops"]


def test_a_policy_decision_is_one_line_safe_for_a_terminal() -> None:
    shown, stream, _ = progress(tty=False)
    shown(event("PolicyDecision", stage="pay", kind="command", action="./charge\x1b[2J\nrest",
                decision="DEDUP", rule="", receipt_id="R1"))  # fmt: skip
    assert lines(stream) == ["  policy DEDUP command ./charge"]
