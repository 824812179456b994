"""JSON views of stored runs shared by the API and the CLI (api.md §6.1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fabro.storage import questions, runs
from fabro.storage.db import Database
from fabro.storage.records import RunRecord, RunSummary

# What a status view can be built from: the whole record, or just what it shows.
RunView = RunRecord | RunSummary


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


async def load_run_statuses(db: Database, page: Sequence[RunView]) -> list[dict[str, Any]]:
    """``load_run_status`` for a list page in at most two reads, not one or two per run.

    Under load every read waits for the event loop, so a page of 100 runs read one by one
    took seconds; the page's pending questions (and queue positions) are read at once.
    """
    asking = [run.id for run in page if not run.is_terminal and run.status != "queued"]
    oldest = await questions.oldest_pending(db, asking)
    queued = any(run.status == "queued" for run in page)
    positions = await runs.queue_positions(db) if queued else {}
    bodies = []
    for run in page:
        question = oldest.get(run.id)
        pending = {"id": question.qid, "text": question.text} if question else None
        bodies.append(
            run_status(run, queue_position=positions.get(run.id), pending_question=pending)
        )
    return bodies
