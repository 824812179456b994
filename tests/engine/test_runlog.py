"""The server's run transition lines, made from committed events (fabro/engine/runlog.py)."""

from __future__ import annotations

import logging

import pytest

from fabro.engine.runlog import log_transition, one_line, transition
from fabro.events.types import (
    FabroErrorPayload,
    InterviewCompleted,
    InterviewStarted,
    InterviewTimeout,
    PolicyDecision,
    RunCancelled,
    RunEvent,
    RunPaused,
    RunQueued,
    RunResumed,
    StageStarted,
    WorkflowRunCompleted,
    WorkflowRunFailed,
    WorkflowRunStarted,
)
from fabro.storage.records import EventRecord

RUN = "01HRUN"


def record(event: RunEvent, child_depth: int = 0) -> EventRecord:
    return EventRecord(
        RUN, 1, "2026-01-01T00:00:00.000Z", event.variant, event.to_json(), child_depth
    )


@pytest.mark.parametrize(
    ("event", "words"),
    [
        (RunQueued(run_id=RUN, queue_position=2), "queued (position 2)"),
        (WorkflowRunStarted(name="Hello", run_id=RUN), "started (workflow Hello)"),
        (
            InterviewStarted(question="Ship it?", stage="approve", question_type="yes_no"),
            "waiting for a person at stage approve",
        ),
        (
            InterviewCompleted(question="Ship it?", answer="Y", duration_ms=5),
            "resumed: a person answered",
        ),
        (
            InterviewTimeout(question="Ship it?", stage="approve", duration_ms=5),
            "resumed: the question at stage approve timed out",
        ),
        (RunPaused(run_id=RUN), "paused"),
        (RunResumed(run_id=RUN, reason="unpause"), "resumed (unpause)"),
        (WorkflowRunCompleted(duration_ms=1500, artifact_count=3), "finished: completed in 1.5 s"),
        (
            WorkflowRunFailed(
                error=FabroErrorPayload(
                    kind="engine",
                    message="Script failed\n## stdout\nx",
                    failure_class="deterministic",
                ),
                duration_ms=20,
            ),
            "finished: failed in 0.0 s (Script failed)",
        ),
        (RunCancelled(run_id=RUN), "finished: cancelled"),
        (
            PolicyDecision(
                stage="ship",
                kind="command",
                action="git push\norigin",
                decision="BLOCK",
                rule="no-push",
            ),
            "policy BLOCK by rule no-push: command git push at stage ship",
        ),
    ],
)
def test_each_transition_is_one_line(event: RunEvent, words: str) -> None:
    assert transition(record(event)) == words


def test_other_events_and_child_workflows_are_not_transitions() -> None:
    stage = StageStarted(
        node_id="a", name="a", index=0, handler_type=None, attempt=1, max_attempts=1
    )
    assert transition(record(stage)) is None
    assert transition(record(WorkflowRunStarted(name="Child", run_id=RUN), child_depth=1)) is None


def test_text_from_a_workflow_cannot_forge_or_flood_the_log() -> None:
    assert one_line("boom\nrun 01X finished: completed") == "boom"
    assert one_line("a\x1b[31mred\rb") == "a\\x1b[31mred\\x0db"
    assert one_line("x" * 500) == "x" * 200 + "…"


def test_the_line_is_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="fabro.runs"):
        log_transition(record(WorkflowRunStarted(name="Hello", run_id=RUN)))
        log_transition(record(RunQueued(run_id=RUN, queue_position=1), child_depth=1))
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", f"run {RUN} started (workflow Hello)")
    ]
