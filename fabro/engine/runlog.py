"""One server log line per run transition: queued, started, waiting for a person, resumed,
paused, finished with its status; and one per action the policy did not simply allow.

The lines are made from the committed events the run manager publishes, so every transition
is logged once, whichever path made it (a client, the engine, recovery). Text that came from
a workflow or a program (a failure message, a stage name) is cut to one short line with its
control characters escaped: it can neither forge log lines nor flood the log.
"""

from __future__ import annotations

import logging
from typing import Any

from fabro.storage.records import EventRecord

log = logging.getLogger("fabro.runs")

MAX_TEXT = 200
VARIANTS = frozenset(
    {
        "RunQueued",
        "WorkflowRunStarted",
        "InterviewStarted",
        "InterviewCompleted",
        "InterviewTimeout",
        "RunPaused",
        "RunResumed",
        "WorkflowRunCompleted",
        "WorkflowRunFailed",
        "RunCancelled",
        "PolicyDecision",
    }
)


def one_line(text: object, limit: int = MAX_TEXT) -> str:
    """The first line of ``text``, at most ``limit`` characters, control characters escaped."""
    first = str(text).strip().split("\n", 1)[0]
    cut = first[:limit] + ("…" if len(first) > limit else "")
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in cut)


def _finished(status: str, data: dict[str, Any]) -> str:
    seconds = (
        f" in {int(data.get('duration_ms') or 0) / 1000:.1f} s" if "duration_ms" in data else ""
    )
    return f"finished: {status}{seconds}"


def transition(record: EventRecord) -> str | None:
    """What happened to the run, in words, when ``record`` is a transition; else None."""
    if record.child_depth:
        return None  # a child workflow's events belong to a stage of the run
    ((variant, data),) = record.payload.items()
    if not isinstance(data, dict):
        return None
    if variant == "RunQueued":
        return f"queued (position {data.get('queue_position')})"
    if variant == "WorkflowRunStarted":
        return f"started (workflow {one_line(data.get('name'))})"
    if variant == "InterviewStarted":
        return f"waiting for a person at stage {one_line(data.get('stage'))}"
    if variant == "InterviewCompleted":
        return "resumed: a person answered"
    if variant == "InterviewTimeout":
        return f"resumed: the question at stage {one_line(data.get('stage'))} timed out"
    if variant == "RunPaused":
        return "paused"
    if variant == "RunResumed":
        return f"resumed ({one_line(data.get('reason'))})"
    if variant == "WorkflowRunCompleted":
        return _finished("completed", data)
    if variant == "WorkflowRunFailed":
        error = data.get("error")  # {"type": ..., "data": {"message": ...}}
        detail = error.get("data") if isinstance(error, dict) else None
        message = detail.get("message") if isinstance(detail, dict) else None
        return _finished("failed", data) + (f" ({one_line(message)})" if message else "")
    if variant == "RunCancelled":
        return "finished: cancelled"
    if variant == "PolicyDecision":  # an action the policy did not simply allow
        return (
            f"policy {one_line(data.get('decision'))} by rule {one_line(data.get('rule'))}: "
            f"{one_line(data.get('kind'))} {one_line(data.get('action'), 80)} "
            f"at stage {one_line(data.get('stage'))}"
        )
    return None


def log_transition(record: EventRecord) -> None:
    """Log ``record`` at INFO when it is a run transition."""
    if record.variant not in VARIANTS or not log.isEnabledFor(logging.INFO):
        return
    words = transition(record)
    if words is not None:
        log.info("run %s %s", record.run_id, words)
