"""What closes a stage: its events, its row's finish, and the exit node's stage (engine.md §6
step 11, §7)."""

from __future__ import annotations

from typing import Any

from fabro.engine.outcome import Outcome
from fabro.engine.retry import RetryPolicy
from fabro.engine.routing import stage_id
from fabro.events.types import (
    FailureDetail,
    RunEvent,
    StageCompleted,
    StageFailed,
    StageStarted,
    StageUsage,
)
from fabro.storage.stages import StageFinish, StageRecord
from fabro.workflow.model import Node


def closing(
    node: Node,
    index: int,
    outcome: Outcome,
    attempts: int,
    policy: RetryPolicy,
    failure_signature: str,
) -> RunEvent:
    """StageCompleted, or StageFailed for a failed outcome, with the failure's signature."""
    failure = outcome.failure
    if failure is not None and failure_signature:
        failure = FailureDetail(
            message=failure.message,
            failure_class=failure.failure_class,
            failure_signature=failure_signature,
        )
    if outcome.status == "fail":
        failure = failure or FailureDetail(message="stage failed", failure_class="deterministic")
        return StageFailed(
            node_id=node.id, name=node.label, index=index, failure=failure, will_retry=False
        )
    return StageCompleted(
        node_id=node.id,
        name=node.label,
        index=index,
        duration_ms=outcome.duration_ms or 0,
        status=outcome.status,
        preferred_label=outcome.preferred_label,
        suggested_next_ids=tuple(outcome.suggested_next_ids),
        usage=outcome.usage,
        failure=failure,
        notes=outcome.notes,
        files_touched=tuple(outcome.files_touched),
        attempt=attempts,
        max_attempts=policy.attempts,
    )


def exit_stage(
    run_id: str, terminal: Node, visits: int, index: int, started_at: str
) -> tuple[StageRecord, list[RunEvent]]:
    """The exit node's stage row and events: it runs no handler and always succeeds."""
    record = StageRecord(
        run_id=run_id,
        stage_id=stage_id(terminal.id, visits),
        node_id=terminal.id,
        name=terminal.label,
        visit=visits,
        stage_index=index,
        status="running",
        started_at=started_at,
        handler_type=terminal.kind,
    )
    events: list[RunEvent] = [
        StageStarted(
            node_id=terminal.id,
            name=terminal.label,
            index=index,
            handler_type=terminal.kind,
            attempt=1,
            max_attempts=1,
        ),
        StageCompleted(
            node_id=terminal.id,
            name=terminal.label,
            index=index,
            duration_ms=0,
            status="success",
            preferred_label=None,
            suggested_next_ids=(),
            usage=None,
            notes=None,
            files_touched=(),
            attempt=1,
            max_attempts=1,
        ),
    ]
    return record, events


def finish(outcome: Outcome, attempts: int, recorded: dict[str, Any], at: str) -> StageFinish:
    """The stage row's finish: its status, attempts, ``recorded`` outcome JSON and usage."""
    usage = outcome.usage
    return StageFinish(
        status="failed" if outcome.status == "fail" else "completed",
        finished_at=at,
        duration_ms=outcome.duration_ms or 0,
        attempts=attempts,
        outcome=recorded,
        model=usage.model if usage else None,
        usage=_usage_counts(usage),
        cost=usage.cost if usage else None,
    )


def _usage_counts(usage: StageUsage | None) -> dict[str, int]:
    if usage is None:
        return {}
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens or 0,
        "cache_write_tokens": usage.cache_write_tokens or 0,
        "reasoning_tokens": usage.reasoning_tokens or 0,
    }
