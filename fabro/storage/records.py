"""The dataclasses the store returns; nothing outside storage/ ever sees a row."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from fabro import jsontext

T = TypeVar("T")

RunStatus = Literal["queued", "starting", "running", "paused", "completed", "failed", "cancelled"]
RUN_STATUSES: tuple[RunStatus, ...] = (
    "queued",
    "starting",
    "running",
    "paused",
    "completed",
    "failed",
    "cancelled",
)
TERMINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})
ACTIVE_STATUSES: frozenset[str] = frozenset({"starting", "running", "paused"})


@dataclass(frozen=True)
class RunRecord:
    id: str
    status: RunStatus
    title: str
    graph_name: str
    dot_source: str
    prepared_graph: dict[str, Any]
    created_at: str
    updated_at: str
    workflow_slug: str | None = None
    goal: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    vars: dict[str, str] = field(default_factory=dict)
    source_name: str = "graph.dot"
    config: dict[str, Any] = field(default_factory=dict)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False
    error_message: str | None = None
    current_node: str | None = None
    pause_requested: bool = False
    owner_pid: int | None = None
    created_by: str | None = None
    started_at: str | None = None
    finished_at: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class RunSummary:
    """The fields of a run that a RunStatusResponse shows: a RunRecord without its source,
    prepared graph, config and other engine state (much cheaper to read for a status poll)."""

    id: str
    status: RunStatus
    title: str
    created_at: str
    workflow_slug: str | None = None
    graph_name: str = ""
    goal: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    error_message: str | None = None
    current_node: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    created_by: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class RunFilter:
    """Which runs a list or count covers: every condition given must hold."""

    statuses: tuple[str, ...] = ()
    workflow_slug: str | None = None
    created_by: str | None = None
    labels: tuple[tuple[str, str], ...] = ()  # (key, value) pairs the run's labels all have
    # True: only runs an engine works on (starting, running, paused) with a pending question;
    # False: every other run. None: either.
    waiting: bool | None = None
    run_ids: tuple[str, ...] = ()


# NewEvent and EventRecord are made for every event stored, and a frozen dataclass costs
# about five times as much to make: they are slotted instead, and never changed once made.


@dataclass(slots=True)
class NewEvent:
    """An event about to be stored: its variant name and externally tagged payload."""

    variant: str
    payload: dict[str, Any]
    child_depth: int = 0
    text: str | None = None  # the payload's compact JSON, when the caller has it already

    @classmethod
    def of(cls, tagged: dict[str, Any], child_depth: int = 0) -> NewEvent:
        """From an externally tagged event dict such as ``{"RunQueued": {...}}``."""
        (variant,) = tagged.keys()
        return cls(variant=variant, payload=tagged, child_depth=child_depth)


@dataclass(slots=True)
class EventRecord:
    run_id: str
    seq: int
    ts: str
    variant: str
    payload: dict[str, Any]
    child_depth: int = 0
    text: str | None = field(default=None, compare=False, repr=False)  # the payload's JSON

    def data_json(self) -> str:
        return self.text if self.text is not None else jsontext.dumps(self.payload)


@dataclass(frozen=True)
class CheckpointRecord:
    run_id: str
    data: dict[str, Any]
    updated_at: str


@dataclass(frozen=True)
class IdempotencyRecord:
    principal: str
    key: str
    request_hash: str
    run_id: str
    created_at: str


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: the items and whether more exist after them."""

    items: list[T]
    has_more: bool
