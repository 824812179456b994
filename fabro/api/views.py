"""Response bodies of stored runs, shared by the API and the CLI (api.md §6.1, §6.3)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

from msgspec import UNSET, UnsetType

from fabro.api.bodies.common import WorkflowRef
from fabro.api.bodies.runs import (
    BoardColumn,
    PendingQuestion,
    RepositoryRef,
    RunError,
    RunListItem,
    RunQuestion,
    RunStatusResponse,
    RunTimings,
)
from fabro.clock import parse_ts
from fabro.storage.records import RunRecord, RunStatus, RunSummary
from fabro.storage.store import Store

# What a status view can be built from: the whole record, or just what it shows.
RunView = RunRecord | RunSummary

# The run list is the original's board (its OpenAPI `RunListItem`): `status` is a column, and
# fabro's own status moves to `run_status`. Its web app and generated clients read the columns.
BOARD_COLUMNS: dict[RunStatus, BoardColumn] = {
    "queued": "working",
    "starting": "working",
    "running": "working",  # "pending" while a question waits for an answer
    "paused": "pending",  # waits for a person to unpause it
    "completed": "review",
    "failed": "review",
    "cancelled": "review",
}  # "merge" holds runs with a pull request to merge: fabro opens none
# fabro has no repositories; a run's `repository` label names the board's repository.
REPOSITORY_LABEL = "repository"
T = TypeVar("T")


def run_status(
    run: RunView,
    *,
    queue_position: int | None = None,
    pending_question: PendingQuestion | None = None,
) -> RunStatusResponse:
    """RunStatusResponse: optional fields omitted when absent, never null (but ``workflow``)."""
    return RunStatusResponse(
        id=run.id,
        status=run.status,
        created_at=run.created_at,
        error=RunError(message=run.error_message)
        if run.status == "failed" and run.error_message
        else UNSET,
        queue_position=queue_position
        if run.status == "queued" and queue_position is not None
        else UNSET,
        title=run.title,
        workflow=WorkflowRef(slug=run.workflow_slug) if run.workflow_slug else None,
        goal=run.goal,
        labels=dict(run.labels),
        current_node=_given(run.current_node if run.status in ("running", "paused") else None),
        started_at=_given(run.started_at),
        finished_at=_given(run.finished_at if run.is_terminal else None),
        pending_question=_given(pending_question),
    )


def _given(value: T | None) -> T | UnsetType:
    """An optional text or object field: left out when None or empty."""
    return value if value else UNSET


async def load_run_status(store: Store, run: RunView) -> RunStatusResponse:
    """RunStatusResponse with the queue position and the oldest pending question looked up."""
    position = await store.queue_position(run)
    pending = None
    if not run.is_terminal and run.status != "queued":
        waiting = await store.pending_questions(run.id)
        if waiting:
            pending = PendingQuestion(id=waiting[0].qid, text=waiting[0].text)
    return run_status(run, queue_position=position, pending_question=pending)


async def find_run_status(store: Store, run_id: str) -> RunStatusResponse | None:
    """`GET /runs/{id}`: the RunStatusResponse of a run, or None when there is no such run.

    Reads the run's summary only, never its source, prepared graph or config.
    """
    run = await store.get_run_summary(run_id)
    return None if run is None else await load_run_status(store, run)


def board_column(status: RunStatus, *, waiting: bool) -> BoardColumn:
    """The board column of a run; ``waiting``: a question of the run waits for an answer."""
    return "pending" if waiting and status == "running" else BOARD_COLUMNS[status]


def run_list_item(
    run: RunView,
    *,
    now: datetime,
    queue_position: int | None = None,
    pending_question: PendingQuestion | None = None,
) -> RunListItem:
    """A RunListItem of the original's board, then fabro's RunStatusResponse fields with
    its status as ``run_status``. ``now`` ends the elapsed time of a run still going."""
    status = run_status(run, queue_position=queue_position, pending_question=pending_question)
    return RunListItem(
        id=run.id,
        repository=RepositoryRef(name=run.labels.get(REPOSITORY_LABEL, "")),
        title=run.title,
        # Required by the board: a `dot_source` run is named by its digraph.
        workflow=WorkflowRef(slug=run.workflow_slug or run.graph_name),
        status=board_column(run.status, waiting=pending_question is not None),
        created_at=run.created_at,
        question=RunQuestion(text=pending_question.text) if pending_question else UNSET,
        timings=RunTimings(elapsed_secs=_elapsed_secs(run.started_at, run.finished_at, now))
        if run.started_at
        else UNSET,
        run_status=run.status,
        error=status.error,
        queue_position=status.queue_position,
        goal=status.goal,
        labels=status.labels,
        current_node=status.current_node,
        started_at=status.started_at,
        finished_at=status.finished_at,
        pending_question=status.pending_question,
    )


def _elapsed_secs(started_at: str, finished_at: str | None, now: datetime) -> float:
    end = parse_ts(finished_at) if finished_at else now
    return round(max(0.0, (end - parse_ts(started_at)).total_seconds()), 3)


async def load_run_list(
    store: Store, page: Sequence[RunView], *, now: datetime
) -> list[RunListItem]:
    """The ``run_list_item`` of each run of a list page in at most two reads, not one or two
    per run.

    Under load every read waits for the event loop, so a page of 100 runs read one by one
    took seconds; the page's pending questions (and queue positions) are read at once.
    """
    asking = [run.id for run in page if not run.is_terminal and run.status != "queued"]
    oldest = await store.oldest_pending(asking)
    queued = any(run.status == "queued" for run in page)
    positions = await store.queue_positions() if queued else {}
    items = []
    for run in page:
        question = oldest.get(run.id)
        pending = PendingQuestion(id=question.qid, text=question.text) if question else None
        items.append(
            run_list_item(
                run, now=now, queue_position=positions.get(run.id), pending_question=pending
            )
        )
    return items
