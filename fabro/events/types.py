"""Run events of api.md §6.8 as frozen dataclasses, with their externally tagged JSON form.

``event.to_json()`` gives ``{"StageStarted": {...}}``; ``event_from_json`` reverses it. Fields
marked ``?`` in the spec default to None and are omitted when None; every other field is always
present, possibly as null when its type allows it. Fields are keyword-only so that the order of
the spec's tables (``?`` fields included) is kept in the JSON. The shared payload types live in
``fabro.events.payloads`` and are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass

from fabro.events.agent import AgentEvent
from fabro.events.payloads import FabroErrorPayload as FabroErrorPayload
from fabro.events.payloads import FailureDetail as FailureDetail
from fabro.events.payloads import StageUsage as StageUsage
from fabro.events.payloads import check_one_of
from fabro.events.tagged import Json, JsonObject, Tagged, decode_tagged, encode_fields

EARLY_TERMINATION_REASONS = frozenset({"fail_fast_branch_failed", "fail_fast_handler_error"})
RESUME_REASONS = frozenset({"unpause", "recovery"})


class RunEvent(Tagged):
    """Base of the run event variants."""

    def to_json(self) -> JsonObject:
        """The externally tagged JSON object, e.g. ``{"CheckpointSaved": {"node_id": "plan"}}``."""
        return {self.variant: encode_fields(self)}

    @classmethod
    def from_json(cls, data: Json) -> RunEvent:
        """Rebuild any run event variant from its tagged JSON."""
        return event_from_json(data)


@dataclass(frozen=True, kw_only=True)
class RunQueued(RunEvent):
    run_id: str
    queue_position: int


@dataclass(frozen=True, kw_only=True)
class WorkflowRunStarted(RunEvent):
    name: str
    run_id: str
    base_sha: str | None = None
    run_branch: str | None = None
    worktree_dir: str | None = None


@dataclass(frozen=True, kw_only=True)
class WorkflowRunCompleted(RunEvent):
    duration_ms: int
    artifact_count: int
    total_cost: float | None = None
    final_git_commit_sha: str | None = None


@dataclass(frozen=True, kw_only=True)
class WorkflowRunFailed(RunEvent):
    error: FabroErrorPayload
    duration_ms: int
    git_commit_sha: str | None = None


@dataclass(frozen=True, kw_only=True)
class StageStarted(RunEvent):
    node_id: str
    name: str
    index: int
    handler_type: str | None
    script: str | None = None
    attempt: int
    max_attempts: int


@dataclass(frozen=True, kw_only=True)
class StageCompleted(RunEvent):
    node_id: str
    name: str
    index: int
    duration_ms: int
    status: str
    preferred_label: str | None
    suggested_next_ids: tuple[str, ...]
    usage: StageUsage | None
    failure: FailureDetail | None = None
    notes: str | None
    files_touched: tuple[str, ...]
    attempt: int
    max_attempts: int


@dataclass(frozen=True, kw_only=True)
class StageFailed(RunEvent):
    node_id: str
    name: str
    index: int
    failure: FailureDetail
    will_retry: bool


@dataclass(frozen=True, kw_only=True)
class StageRetrying(RunEvent):
    node_id: str
    name: str
    index: int
    attempt: int
    max_attempts: int
    delay_ms: int


@dataclass(frozen=True, kw_only=True)
class ParallelStarted(RunEvent):
    branch_count: int
    join_policy: str
    error_policy: str


@dataclass(frozen=True, kw_only=True)
class ParallelBranchStarted(RunEvent):
    branch: str
    index: int


@dataclass(frozen=True, kw_only=True)
class ParallelBranchCompleted(RunEvent):
    branch: str
    index: int
    duration_ms: int
    status: str


@dataclass(frozen=True, kw_only=True)
class ParallelCompleted(RunEvent):
    duration_ms: int
    success_count: int
    failure_count: int


@dataclass(frozen=True, kw_only=True)
class ParallelEarlyTermination(RunEvent):
    reason: str
    completed_count: int
    pending_count: int

    def __post_init__(self) -> None:
        check_one_of("reason", self.reason, EARLY_TERMINATION_REASONS)


@dataclass(frozen=True, kw_only=True)
class InterviewStarted(RunEvent):
    question: str
    stage: str
    question_type: str


@dataclass(frozen=True, kw_only=True)
class InterviewCompleted(RunEvent):
    question: str
    answer: str
    duration_ms: int


@dataclass(frozen=True, kw_only=True)
class InterviewTimeout(RunEvent):
    question: str
    stage: str
    duration_ms: int


@dataclass(frozen=True, kw_only=True)
class CheckpointSaved(RunEvent):
    node_id: str


@dataclass(frozen=True, kw_only=True)
class EdgeSelected(RunEvent):
    from_node: str
    to_node: str
    label: str | None
    condition: str | None


@dataclass(frozen=True, kw_only=True)
class LoopRestart(RunEvent):
    from_node: str
    to_node: str


@dataclass(frozen=True, kw_only=True)
class Prompt(RunEvent):
    stage: str
    text: str


@dataclass(frozen=True, kw_only=True)
class Agent(RunEvent):
    stage: str
    event: AgentEvent


@dataclass(frozen=True, kw_only=True)
class StallWatchdogTimeout(RunEvent):
    node: str
    idle_seconds: float


@dataclass(frozen=True, kw_only=True)
class RunPaused(RunEvent):
    run_id: str


@dataclass(frozen=True, kw_only=True)
class RunResumed(RunEvent):
    run_id: str
    reason: str

    def __post_init__(self) -> None:
        check_one_of("reason", self.reason, RESUME_REASONS)


@dataclass(frozen=True, kw_only=True)
class RunCancelled(RunEvent):
    run_id: str
    node_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class PolicyDecision(RunEvent):
    """fabro: a side effect the policy did not simply allow (ALERT, APPROVE, BLOCK), or one
    not run again because its receipt shows it ran (DEDUP); every action has a receipt."""

    stage: str
    kind: str
    action: str
    decision: str
    rule: str
    receipt_id: str | None = None


RUN_EVENT_TYPES: dict[str, type[RunEvent]] = {
    cls.variant: cls
    for cls in (
        RunQueued,
        WorkflowRunStarted,
        WorkflowRunCompleted,
        WorkflowRunFailed,
        StageStarted,
        StageCompleted,
        StageFailed,
        StageRetrying,
        ParallelStarted,
        ParallelBranchStarted,
        ParallelBranchCompleted,
        ParallelCompleted,
        ParallelEarlyTermination,
        InterviewStarted,
        InterviewCompleted,
        InterviewTimeout,
        CheckpointSaved,
        EdgeSelected,
        LoopRestart,
        Prompt,
        Agent,
        StallWatchdogTimeout,
        RunPaused,
        RunResumed,
        RunCancelled,
        PolicyDecision,
    )
}

# Variants fabro adds to the original's event table (api.md); the others are the spec's.
FABRO_EVENT_VARIANTS = frozenset({"PolicyDecision"})

TERMINAL_EVENT_TYPES: tuple[type[RunEvent], ...] = (
    WorkflowRunCompleted,
    WorkflowRunFailed,
    RunCancelled,
)


def event_from_json(data: Json) -> RunEvent:
    """Rebuild a run event from its externally tagged JSON object."""
    return decode_tagged(data, RUN_EVENT_TYPES, "run event")


def is_terminal(event: RunEvent, *, child_depth: int = 0) -> bool:
    """Whether the event ends its run; a manager child's own completion (depth > 0) does not."""
    return child_depth == 0 and isinstance(event, TERMINAL_EVENT_TYPES)
