"""Bodies of runs (api.md §6): start, status, list, checkpoint, configuration, steering."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import msgspec
from msgspec import UNSET, Meta, field

from fabro.api.bodies.common import Body, JsonObject, LlmConfig, Opt, Page, WorkflowRef
from fabro.errors import BadRequest

RunStatus = Literal["queued", "starting", "running", "paused", "completed", "failed", "cancelled"]
BoardColumn = Literal["working", "pending", "review", "merge"]
LABEL_KEY = "^[A-Za-z0-9_.-]{1,64}$"
LabelKey = Annotated[str, Meta(pattern=LABEL_KEY)]
LabelValue = Annotated[str, Meta(max_length=256)]
Title = Annotated[str, Meta(max_length=200)]
# Request text that must hold something besides white space.
NonBlank = Annotated[str, Meta(pattern=r"\S")]

# Request examples (api.md), also the first requests an API fuzzer sends.
EXAMPLE_DOT = """digraph Hello {
  graph [goal="Add a /health endpoint"]
  start [shape=Mdiamond]
  implement [label="Implement", prompt="Implement: $goal"]
  exit [shape=Msquare]
  start -> implement -> exit
}"""


class RunError(Body):
    message: str


class PendingQuestion(Body):
    id: str
    text: str


class RunStatusResponse(Body, kw_only=True):
    """A run as clients poll it; optional fields are left out when absent, never null. The
    original's fields first, in its order (api.md §6.4)."""

    id: str
    status: RunStatus
    created_at: str
    error: Opt[RunError] = UNSET
    queue_position: Opt[int] = UNSET
    title: Opt[str] = UNSET
    workflow: Opt[WorkflowRef | None] = UNSET
    goal: Opt[str] = UNSET
    labels: Opt[dict[str, str]] = UNSET
    current_node: Opt[str] = UNSET
    started_at: Opt[str] = UNSET
    finished_at: Opt[str] = UNSET
    pending_question: Opt[PendingQuestion] = UNSET


class EdgeRef(Body):
    from_: str = field(name="from")
    to: str


class Diagnostic(Body):
    rule: str
    severity: Literal["error", "warning", "info"]
    message: str
    node_id: Opt[str] = UNSET
    edge: Opt[EdgeRef] = UNSET
    line: Opt[int] = UNSET  # parse errors only
    col: Opt[int] = UNSET


class StartRunResponse(RunStatusResponse, kw_only=True):
    warnings: Opt[list[Diagnostic]] = UNSET

    @classmethod
    def of(cls, status: RunStatusResponse, warnings: list[JsonObject]) -> StartRunResponse:
        """The run's status with the validation warnings stored with it (their JSON form)."""
        fields = msgspec.structs.asdict(status)
        return cls(**fields, warnings=msgspec.convert(warnings, list[Diagnostic]))


class StartRunRequest(Body):
    """Exactly one of ``dot_source`` and ``workflow`` (api.md §6.2)."""

    dot_source: str | None = None
    workflow: str | None = None
    goal: str | None = None
    vars: dict[str, str] | None = None
    labels: dict[LabelKey, LabelValue] | None = None
    title: Title | None = None

    SCHEMA_EXTRA: ClassVar[dict[str, Any]] = {
        # Null counts as absent, as in the handler.
        "oneOf": [
            {"required": [name], "properties": {name: {"type": "string"}}}
            for name in ("dot_source", "workflow")
        ],
        "examples": [
            {
                "dot_source": EXAMPLE_DOT,
                "goal": "Add a /health endpoint",
                "labels": {"team": "web"},
            },
            {"workflow": "fix_build", "vars": {"repo": "api"}},
        ],
    }

    def __post_init__(self) -> None:
        if (self.dot_source is None) == (self.workflow is None):
            raise BadRequest("Exactly one of dot_source or workflow is required.")


class RepositoryRef(Body):
    name: str


class RunQuestion(Body):
    text: str


class RunTimings(Body):
    elapsed_secs: float


class RunListItem(Body, kw_only=True):
    """The original's board item (api.md §6.3); fabro's status is ``run_status``, and the other
    RunStatusResponse fields follow it."""

    id: str
    repository: RepositoryRef
    title: str
    workflow: WorkflowRef
    status: BoardColumn
    created_at: str
    question: Opt[RunQuestion] = UNSET
    timings: Opt[RunTimings] = UNSET
    run_status: RunStatus
    error: Opt[RunError] = UNSET
    queue_position: Opt[int] = UNSET
    goal: Opt[str] = UNSET
    labels: Opt[dict[str, str]] = UNSET
    current_node: Opt[str] = UNSET
    started_at: Opt[str] = UNSET
    finished_at: Opt[str] = UNSET
    pending_question: Opt[PendingQuestion] = UNSET


class PaginatedRunList(Page[RunListItem]):
    pass


class RunCheckpoint(Body):
    timestamp: str
    current_node: str
    completed_nodes: list[str]
    node_retries: JsonObject
    context_values: JsonObject
    logs: list[str]
    node_outcomes: Opt[JsonObject] = UNSET
    next_node_id: Opt[str] = UNSET
    git_commit_sha: Opt[str] = UNSET
    loop_failure_signatures: Opt[JsonObject] = UNSET
    restart_failure_signatures: Opt[JsonObject] = UNSET
    node_visits: Opt[JsonObject] = UNSET

    @classmethod
    def from_record(cls, data: JsonObject) -> RunCheckpoint:
        """The stored checkpoint's JSON (``EngineState.checkpoint``) as this body."""
        return msgspec.convert(data, cls)


class RunConfiguration(Body):
    version: int
    graph: str
    goal: Opt[str] = UNSET
    directory: Opt[str] = UNSET
    llm: Opt[LlmConfig] = UNSET
    vars: Opt[dict[str, str]] = UNSET
    graph_name: Opt[str] = UNSET
    labels: Opt[dict[str, str]] = UNSET
    title: Opt[str] = UNSET
    dry_run: Opt[bool] = UNSET


class SteerLocation(Body):
    file: str
    line: int | None = None


class SteerRequest(Body):
    guidance: NonBlank
    location: SteerLocation | None = None

    SCHEMA_EXTRA: ClassVar[dict[str, Any]] = {
        "examples": [
            {
                "guidance": "Use the existing HTTP client instead of adding a new dependency.",
                "location": {"file": "src/app.py", "line": 42},
            }
        ]
    }


class PreviewUrlRequest(Body):
    port: int
    expires_in_secs: int


class PreviewUrlResponse(Body):
    url: str
