"""JSON views of stored runs shared by the API and the CLI (api.md §6.1, §6.3)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from fabro.clock import parse_ts
from fabro.storage import questions, runs
from fabro.storage.db import Database
from fabro.storage.records import RunRecord, RunStatus, RunSummary

# What a status view can be built from: the whole record, or just what it shows.
RunView = RunRecord | RunSummary

# The run list is the original's board (its OpenAPI `RunListItem`): `status` is a column, and
# fabro's own status moves to `run_status`. Its web app and generated clients read the columns.
BoardColumn = Literal["working", "pending", "review", "merge"]
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


def run_status(
    run: RunView,
    *,
    queue_position: int | None = None,
    pending_question: dict[str, str] | None = None,
) -> dict[str, Any]:
    """RunStatusResponse: optional fields omitted when absent, never null."""
    body: dict[str, Any] = {"id": run.id, "status": run.status, "created_at": run.created_at}
    if run.status == "failed" and run.error_message:
        body["error"] = {"message": run.error_message}
    if run.status == "queued" and queue_position is not None:
        body["queue_position"] = queue_position
    body["title"] = run.title
    body["workflow"] = {"slug": run.workflow_slug} if run.workflow_slug else None
    body["goal"] = run.goal
    body["labels"] = dict(run.labels)
    if run.status in ("running", "paused") and run.current_node:
        body["current_node"] = run.current_node
    if run.started_at:
        body["started_at"] = run.started_at
    if run.is_terminal and run.finished_at:
        body["finished_at"] = run.finished_at
    if pending_question:
        body["pending_question"] = pending_question
    return body


async def load_run_status(db: Database, run: RunView) -> dict[str, Any]:
    """RunStatusResponse with the queue position and the oldest pending question looked up."""
    position = await runs.queue_position(db, run)
    pending = None
    if not run.is_terminal and run.status != "queued":
        waiting = await questions.pending_questions(db, run.id)
        if waiting:
            pending = {"id": waiting[0].qid, "text": waiting[0].text}
    return run_status(run, queue_position=position, pending_question=pending)


async def find_run_status(db: Database, run_id: str) -> dict[str, Any] | None:
    """`GET /runs/{id}`: the RunStatusResponse of a run, or None when there is no such run.

    Reads the run's summary only, never its source, prepared graph or config.
    """
    run = await runs.get_run_summary(db, run_id)
    return None if run is None else await load_run_status(db, run)


def board_column(status: RunStatus, *, waiting: bool) -> BoardColumn:
    """The board column of a run; ``waiting``: a question of the run waits for an answer."""
    return "pending" if waiting and status == "running" else BOARD_COLUMNS[status]


def run_list_item(
    run: RunView,
    *,
    now: datetime,
    queue_position: int | None = None,
    pending_question: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A RunListItem of the original's board, then fabro's RunStatusResponse fields with
    its status as ``run_status``. ``now`` ends the elapsed time of a run still going."""
    item: dict[str, Any] = {
        "id": run.id,
        "repository": {"name": run.labels.get(REPOSITORY_LABEL, "")},
        "title": run.title,
        # Required by the board: a `dot_source` run is named by its digraph.
        "workflow": {"slug": run.workflow_slug or run.graph_name},
        "status": board_column(run.status, waiting=pending_question is not None),
        "created_at": run.created_at,
    }
    if pending_question:
        item["question"] = {"text": pending_question["text"]}
    if run.started_at:
        item["timings"] = {"elapsed_secs": _elapsed_secs(run.started_at, run.finished_at, now)}
    status = run_status(run, queue_position=queue_position, pending_question=pending_question)
    item["run_status"] = status.pop("status")
    return item | {key: value for key, value in status.items() if key not in item}


def _elapsed_secs(started_at: str, finished_at: str | None, now: datetime) -> float:
    end = parse_ts(finished_at) if finished_at else now
    return round(max(0.0, (end - parse_ts(started_at)).total_seconds()), 3)


async def load_run_list(
    db: Database, page: Sequence[RunView], *, now: datetime
) -> list[dict[str, Any]]:
    """The ``run_list_item`` of each run of a list page in at most two reads, not one or two
    per run.

    Under load every read waits for the event loop, so a page of 100 runs read one by one
    took seconds; the page's pending questions (and queue positions) are read at once.
    """
    asking = [run.id for run in page if not run.is_terminal and run.status != "queued"]
    oldest = await questions.oldest_pending(db, asking)
    queued = any(run.status == "queued" for run in page)
    positions = await runs.queue_positions(db) if queued else {}
    items = []
    for run in page:
        question = oldest.get(run.id)
        pending = {"id": question.qid, "text": question.text} if question else None
        items.append(
            run_list_item(
                run, now=now, queue_position=positions.get(run.id), pending_question=pending
            )
        )
    return items
