"""The store: what the scheduler, the run lifecycle and the engine's questions and steering
need of durable state, whatever keeps it.

``SqliteStore`` (fabro.storage.sqlite_store) is the only implementation; a second backend
implements this protocol and its callers do not change. Every method is one transaction:
a write is committed (or not at all) before it returns. Events are passed in already
redacted and come back stored, with their sequence numbers, for the caller to publish.

A few writes are not committed by the store but composed into the run recorder's commit
(a stage's question with its ``InterviewStarted``, consumed steering with the LLM request
that carries it): those methods return a ``Write`` that only the recorder runs.

The run recorder (engine/recorder.py) commits a run's stages, turns, checkpoint and events
as ``RunCommit`` values through ``submit``: queued on the one write path without waiting,
several of them sharing a commit (group commit), each refused as a whole once the run is no
longer active (``RunNotActive``).

The API and ``fabro run`` read through the same store (the ``reads for the API`` sections);
chat sessions, which share no state with runs, have a protocol of their own
(fabro.storage.session_store).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypeVar

from fabro.storage.checkpoints import Changes
from fabro.storage.questions import QuestionRecord
from fabro.storage.records import (
    CheckpointRecord,
    EventRecord,
    IdempotencyRecord,
    NewEvent,
    Page,
    RunFilter,
    RunRecord,
    RunSummary,
)
from fabro.storage.stages import (
    StageFinish,
    StageRecord,
    TurnRecord,
    UsageGroup,
    UsageTotals,
)
from fabro.storage.steering import SteeringRecord
from fabro.storage.writer import WriteTx, outcome_of

if TYPE_CHECKING:  # receipts.py builds its writes on Write, defined below
    from fabro.storage.receipts import ReceiptRecord

T = TypeVar("T")

__all__ = ["outcome_of"]  # waiting for a submitted write, whatever the backend (and more below)

# The open transaction of the recorder's commit. Today the SQLite writer's; callers only
# hand a ``Write`` from the store to the recorder, so a backend of its own changes neither.
Tx: TypeAlias = WriteTx
Write: TypeAlias = Callable[[Tx], T]
# A change of a run with the events that announce it (the run after it, None: not changed).
Moved: TypeAlias = tuple[RunRecord | None, list[EventRecord]]

# Any run not finished yet may be cancelled or failed.
UNFINISHED = ("queued", "starting", "running", "paused")
# A run an engine works on (a recorder's commits are refused once it is not).
ACTIVE = ("starting", "running", "paused")


@dataclass(frozen=True)
class IdempotencyCheck:
    """An Idempotency-Key to honour while creating a run (api.md §6.2)."""

    principal: str
    key: str
    request_hash: str
    not_before: str  # keys older than this are forgotten


class IdempotencyConflict(Exception):
    """The key was used with a different request body."""


class RunNotActive(Exception):
    """The run became terminal (cancelled) while the engine was still working on it."""


@dataclass(frozen=True)
class NewTurn:
    """An LLM turn of a stage, numbered by the recorder."""

    stage_id: str
    n: int
    kind: str
    content: str | None
    tools: list[dict[str, Any]] | None
    created_at: str


@dataclass(frozen=True)
class CheckpointWrite:
    """The checkpoint changes of a commit's stages, and the head the last of them left."""

    changes: Changes
    ts: str
    current_node: str | None
    next_node_id: str | None


@dataclass(eq=False)
class RunCommit:
    """One commit of a run recorder, stored in this order: ``writes`` (stage rows, a question,
    consumed steering, the run's end), ``turns``, the run's current node, the checkpoint, and
    the events (numbered after the run's last)."""

    writes: list[Write[Any]] = field(default_factory=list)
    turns: list[NewTurn] = field(default_factory=list)
    node: tuple[str, str] | None = None  # (current node, when set)
    checkpoint: CheckpointWrite | None = None
    events: list[NewEvent] = field(default_factory=list)
    stamps: list[str] = field(default_factory=list)  # each event's time


class Store(Protocol):
    """Durable runs, events, questions and steering (see the module docstring)."""

    # ---- runs ----

    async def create_run(
        self,
        run: RunRecord,
        queued: Callable[[int], NewEvent],
        idempotency: IdempotencyCheck | None = None,
    ) -> tuple[RunRecord, list[EventRecord]]:
        """Store ``run`` with the event ``queued`` makes of its queue position, unless
        ``idempotency`` names a run already: that run, and no events. A key used with
        another request raises ``IdempotencyConflict``."""
        ...

    async def move_run(
        self,
        run_id: str,
        allowed_from: Sequence[str],
        events: Sequence[NewEvent] = (),
        **changes: Any,
    ) -> Moved:
        """Apply ``changes`` (``updated_at`` among them: the events' time too) if the run's
        status is in ``allowed_from``, then store ``events``."""
        ...

    async def end_run(
        self, run_id: str, status: str, event: Callable[[RunRecord], NewEvent], **changes: Any
    ) -> Moved:
        """An unfinished run -> ``status`` (failed, cancelled) with ``changes``: its running
        stages closed with that status, its pending questions withdrawn, and the event
        ``event`` makes of the run as it was. ``changes`` include ``updated_at``."""
        ...

    async def reclaim_run(
        self, run_id: str, event: NewEvent, *, keep_paused: bool, owner_pid: int, ts: str
    ) -> Moved:
        """Claim an interrupted (or cancelled) run for process ``owner_pid`` again: running,
        or still paused with ``keep_paused``. None for a completed or failed run."""
        ...

    async def get_run(self, run_id: str) -> RunRecord | None: ...

    async def runs_with_status(
        self, statuses: Sequence[str], *, limit: int = -1
    ) -> list[RunRecord]:
        """Runs in any of ``statuses``, oldest first (the scheduler's FIFO order); -1: all."""
        ...

    async def get_checkpoint(self, run_id: str) -> CheckpointRecord | None: ...

    async def writable(self) -> bool:
        """True when a write of some size commits again (the disk-full probe)."""
        ...

    # ---- reads for the API: runs ----

    async def get_run_summary(self, run_id: str) -> RunSummary | None:
        """What a status view shows of a run: never its source, graph or config."""
        ...

    async def list_runs(
        self,
        *,
        limit: int,
        offset: int,
        statuses: Sequence[str] = (),
        workflow_slug: str | None = None,
    ) -> Page[RunSummary]:
        """Summaries newest first (created_at, then id, descending), optionally filtered."""
        ...

    async def find_runs(self, match: RunFilter, *, limit: int, offset: int) -> Page[RunSummary]:
        """Summaries of the runs ``match`` covers, newest first (the web UI's board)."""
        ...

    async def count_runs_by_state(self, match: RunFilter) -> dict[tuple[str, bool], int]:
        """How many runs ``match`` covers, by (status, waiting for a person), in one read."""
        ...

    async def remembered_key(self, check: IdempotencyCheck) -> IdempotencyRecord | None:
        """The run an Idempotency-Key was used for, read before any work is done."""
        ...

    async def queue_position(self, run: RunRecord | RunSummary) -> int | None:
        """1-based rank of a queued run among the queued runs in FIFO order; None otherwise."""
        ...

    async def queue_positions(self) -> dict[str, int]:
        """The ``queue_position`` of every queued run, in one read."""
        ...

    async def count_started_runs(self, since: str | None = None, until: str | None = None) -> int:
        """Runs that have left ``queued`` (the ``runs`` total of GET /usage); with a range,
        those that started from ``since`` on and before ``until``."""
        ...

    # ---- events ----

    async def events_after(
        self, run_id: str, after: int, limit: int = 1000
    ) -> list[EventRecord]: ...

    async def last_seq(self, run_id: str) -> int: ...

    # ---- questions ----

    def create_question(
        self,
        *,
        run_id: str,
        stage_id: str,
        node_id: str,
        text: str,
        question_type: str,
        options: list[dict[str, str]],
        allow_freeform: bool,
        created_at: str,
    ) -> Write[QuestionRecord]:
        """The write that stores a pending question (numbered within its run)."""
        ...

    async def commit(self, write: Write[T]) -> T:
        """Commit a ``Write`` on its own, when no recorder commit carries it."""
        ...

    async def get_question(self, run_id: str, qid: str) -> QuestionRecord | None: ...

    async def latest_question(self, run_id: str, stage_id: str) -> QuestionRecord | None:
        """The newest question a stage asked (a re-run stage reuses it)."""
        ...

    async def answer_question(
        self, run_id: str, qid: str, answer: dict[str, Any], by: str | None, ts: str
    ) -> bool:
        """Record an answer if the question is still pending; False when it is not."""
        ...

    async def close_question(self, run_id: str, qid: str, status: str, ts: str) -> None:
        """Expire or withdraw a question that is still pending."""
        ...

    # ---- reads for the API: questions ----

    async def pending_questions(self, run_id: str) -> list[QuestionRecord]:
        """The run's pending questions, oldest first."""
        ...

    async def oldest_pending(self, run_ids: Sequence[str]) -> dict[str, QuestionRecord]:
        """The oldest pending question of each of ``run_ids`` that has one, in one read."""
        ...

    # ---- receipts (the writes are Writes the recorder commits: storage/receipts.py) ----

    async def receipt_by_key(self, idempotency_key: str) -> ReceiptRecord | None:
        """The newest receipt of an action by its idempotency key, DEDUPs skipped (recovery)."""
        ...

    # ---- steering ----

    async def add_steering(
        self,
        *,
        run_id: str,
        guidance: str,
        location: dict[str, Any] | None,
        created_by: str | None,
        created_at: str,
    ) -> SteeringRecord: ...

    async def steer(
        self,
        statuses: Sequence[str],
        *,
        run_id: str,
        guidance: str,
        location: dict[str, Any] | None,
        created_by: str | None,
        created_at: str,
    ) -> SteeringRecord | None:
        """``add_steering`` if the run's status is in ``statuses``, checked in the same
        transaction (guidance never lands on a run that ended meanwhile); None if not."""
        ...

    def steering_version(self) -> int:
        """Goes up after each commit that adds steering through this store: a run that read
        none pending at one version need not read again until it moves."""
        ...

    async def pending_steering(self, run_id: str) -> list[SteeringRecord]: ...

    def consume_steering(
        self, run_id: str, numbers: list[int], stage_id: str, ts: str
    ) -> Write[None]:
        """The write that marks entries consumed by a stage."""
        ...

    # ---- a run recorder's commits ----

    def run_commit(self, run_id: str, commit: RunCommit) -> Write[list[EventRecord]]:
        """The write of ``commit``: raises ``RunNotActive`` unless the run is active."""
        ...

    def start_stage(self, stage: StageRecord, finish: StageFinish | None = None) -> Write[None]:
        """Insert a stage as running (or restart the row of a stage run again); with
        ``finish``, as finished at once."""
        ...

    def finish_stage(self, run_id: str, stage_id: str, finish: StageFinish) -> Write[None]: ...

    def set_attempts(self, run_id: str, stage_id: str, attempts: int) -> Write[None]: ...

    def append_turn(
        self,
        run_id: str,
        stage_id: str,
        kind: str,
        created_at: str,
        content: str | None,
        tools: list[dict[str, Any]] | None,
    ) -> Write[None]:
        """A turn numbered after the stage's last stored one (a stage the recorder did not
        start: a child workflow's)."""
        ...

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        ts: str,
        error_message: str | None,
        stage_status: str | None,
        terminal_stage: StageRecord | None,
    ) -> Write[None]:
        """The run made terminal: ``terminal_stage`` (the exit node) stored completed, the
        stages still running closed with ``stage_status``, pending questions withdrawn."""
        ...

    def submit(
        self,
        write: Write[T],
        *,
        within_s: float = 0.0,
        failed: Callable[[BaseException], None] | None = None,
    ) -> asyncio.Future[T]:
        """Queue ``write`` on the write path without waiting (in order; ``within_s``: how long
        it may wait to share a commit; ``failed``: called before the next write runs)."""
        ...

    def defer(self, queue_it: Callable[[], None]) -> None:
        """Note a write held back to merge others into: ``queue_it`` submits it, and is called
        before any other write is queued (each keeps its place in the order)."""
        ...

    def hurry(self) -> None:
        """Have the queued writes committed now."""
        ...

    # ---- reads for the API: stages ----

    async def usage_by_model(self, run_ids: Sequence[str] | None = None) -> list[UsageTotals]:
        """Usage of the stages that have a model, summed per model (of ``run_ids``, or all)."""
        ...

    async def usage_by(
        self, groupings: tuple[str, ...], since: str | None = None, until: str | None = None
    ) -> list[UsageGroup]:
        """Usage of the stages that have a model, summed per combination of ``day`` (UTC),
        ``model``, ``workflow`` (slug; None for pasted DOT) and ``user``, counting the stages
        from ``since`` on and before ``until``."""
        ...

    async def list_stages(self, run_id: str) -> list[StageRecord]:
        """The run's stage rows in the order they started."""
        ...

    async def get_stage(self, run_id: str, stage_id: str) -> StageRecord | None: ...

    async def list_turns(self, run_id: str, stage_id: str) -> list[TurnRecord]:
        """A stage's LLM turns in order."""
        ...
