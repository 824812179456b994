"""Sample events: at least one per variant, more where optional or null fields change the JSON."""

from __future__ import annotations

from fabro.events import agent as a
from fabro.events.types import (
    Agent,
    CheckpointSaved,
    EdgeSelected,
    FabroErrorPayload,
    FailureDetail,
    InterviewCompleted,
    InterviewStarted,
    InterviewTimeout,
    LoopRestart,
    ParallelBranchCompleted,
    ParallelBranchStarted,
    ParallelCompleted,
    ParallelEarlyTermination,
    ParallelStarted,
    PolicyDecision,
    Prompt,
    RunCancelled,
    RunEvent,
    RunPaused,
    RunQueued,
    RunResumed,
    StageCompleted,
    StageFailed,
    StageRetrying,
    StageStarted,
    StageUsage,
    StallWatchdogTimeout,
    WorkflowRunCompleted,
    WorkflowRunFailed,
    WorkflowRunStarted,
)

RUN_ID = "01JP3XKD8Y4V6T2M9Q0R5S7W1Z"
FAILURE = FailureDetail(message="boom", failure_class="deterministic")

STAGE_COMPLETED_MINIMAL = StageCompleted(
    node_id="plan",
    name="Plan",
    index=1,
    duration_ms=12403,
    status="success",
    preferred_label=None,
    suggested_next_ids=(),
    usage=None,
    notes=None,
    files_touched=(),
    attempt=1,
    max_attempts=4,
)

STAGE_COMPLETED_FULL = StageCompleted(
    node_id="plan",
    name="Plan",
    index=1,
    duration_ms=5,
    status="fail",
    preferred_label="Yes",
    suggested_next_ids=("a", "b"),
    usage=StageUsage(
        model="claude-sonnet-4-5",
        input_tokens=1,
        output_tokens=2,
        cache_read_tokens=3,
        cache_write_tokens=4,
        reasoning_tokens=5,
        cost=0.25,
    ),
    failure=FailureDetail(message="m", failure_class="budget_exhausted", failure_signature="s"),
    notes="n",
    files_touched=("src/app.py",),
    attempt=4,
    max_attempts=4,
)


SAMPLES: list[RunEvent] = [
    RunQueued(run_id=RUN_ID, queue_position=1),
    WorkflowRunStarted(name="demo", run_id=RUN_ID),
    WorkflowRunStarted(
        name="demo", run_id=RUN_ID, base_sha="abc", run_branch="b", worktree_dir="/w"
    ),
    WorkflowRunCompleted(duration_ms=10, artifact_count=0),
    WorkflowRunCompleted(
        duration_ms=10, artifact_count=2, total_cost=0.5, final_git_commit_sha="f"
    ),
    WorkflowRunFailed(
        error=FabroErrorPayload(kind="engine", message="x", failure_class="deterministic"),
        duration_ms=45012,
    ),
    WorkflowRunFailed(error=FabroErrorPayload(kind="cancelled"), duration_ms=1, git_commit_sha="g"),
    StageStarted(
        node_id="plan", name="Plan", index=1, handler_type="agent", attempt=1, max_attempts=4
    ),
    StageStarted(
        node_id="t", name="T", index=2, handler_type=None, script="make", attempt=2, max_attempts=2
    ),
    STAGE_COMPLETED_MINIMAL,
    STAGE_COMPLETED_FULL,
    StageFailed(node_id="v", name="V", index=3, failure=FAILURE, will_retry=True),
    StageRetrying(node_id="v", name="V", index=3, attempt=2, max_attempts=3, delay_ms=200),
    ParallelStarted(branch_count=3, join_policy="wait_all", error_policy="fail_fast"),
    ParallelBranchStarted(branch="b1", index=0),
    ParallelBranchCompleted(branch="b1", index=0, duration_ms=7, status="success"),
    ParallelCompleted(duration_ms=9, success_count=2, failure_count=1),
    ParallelEarlyTermination(reason="fail_fast_branch_failed", completed_count=1, pending_count=2),
    InterviewStarted(question="q-1", stage="gate", question_type="multiple_choice"),
    InterviewCompleted(question="q-1", answer="Yes", duration_ms=1000),
    InterviewTimeout(question="q-1", stage="gate", duration_ms=60000),
    CheckpointSaved(node_id="plan"),
    EdgeSelected(from_node="a", to_node="b", label=None, condition=None),
    EdgeSelected(from_node="a", to_node="b", label="Yes", condition="outcome=success"),
    LoopRestart(from_node="z", to_node="a"),
    Prompt(stage="plan", text="Goal: Add a /health endpoint\n\nPlan the change."),
    Agent(stage="plan", event=a.SessionStarted()),
    StallWatchdogTimeout(node="slow", idle_seconds=1800),
    RunPaused(run_id=RUN_ID),
    RunResumed(run_id=RUN_ID, reason="unpause"),
    RunCancelled(run_id=RUN_ID),
    RunCancelled(run_id=RUN_ID, node_id="plan"),
    PolicyDecision(
        stage="deploy",
        kind="command",
        action="git push origin main",
        decision="BLOCK",
        rule="no-push",
        receipt_id="01JP3XKD8Y4V6T2M9Q0R5S7W1Z",
    ),
]

AGENT_SAMPLES: list[a.AgentEvent] = [
    a.SessionStarted(),
    a.SessionEnded(),
    a.AssistantMessage(
        text="Done.",
        model="claude-sonnet-4-5",
        usage=a.TokenUsage(input_tokens=10, output_tokens=5, total_tokens=15),
        tool_call_count=0,
    ),
    a.AssistantMessage(
        text="",
        model="gpt-5.4",
        usage=a.TokenUsage(
            input_tokens=10,
            output_tokens=5,
            total_tokens=15,
            reasoning_tokens=2,
            cache_read_tokens=3,
            cache_write_tokens=0,
        ),
        tool_call_count=2,
    ),
    a.ToolCallStarted(
        tool_name="shell", tool_call_id="c1", arguments={"command": "ls", "opts": {"x": [1]}}
    ),
    a.ToolCallCompleted(
        tool_name="shell", tool_call_id="c1", output="exit_code: 0", is_error=False
    ),
    a.TurnLimitReached(max_turns=20),
    a.SteeringInjected(text="focus on tests"),
    a.LlmRetry(
        provider="anthropic", model="claude-opus-4-6", attempt=1, delay_secs=1.5, error="429"
    ),
    a.AgentError(error="tool failed"),
]

ALL_SAMPLES: list[RunEvent] = SAMPLES + [Agent(stage="s", event=e) for e in AGENT_SAMPLES]
