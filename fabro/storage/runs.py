"""Runs, their checkpoints and idempotency keys: all SQL for them lives here (events: events.py).

Writes are plain functions of a ``WriteTx`` so that callers compose several of them into
one transaction function for ``Database.write`` (the per-stage commit of engine.md §4.2).
Reads are async functions of the ``Database``; the few reads a transaction needs have
``*_in`` variants that take the ``WriteTx``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from fabro import jsontext
from fabro.storage import checkpoints
from fabro.storage.connection import Row
from fabro.storage.db import Database
from fabro.storage.records import (
    CheckpointRecord,
    IdempotencyRecord,
    Page,
    RunFilter,
    RunRecord,
    RunSummary,
)
from fabro.storage.writer import WriteTx

_dumps = jsontext.dumps


_JSON_FIELDS = ("labels", "vars", "prepared_graph", "config", "warnings")
_BOOL_FIELDS = ("dry_run", "pause_requested")
_RUN_COLUMNS = (
    "id",
    "status",
    "title",
    "workflow_slug",
    "graph_name",
    "goal",
    "labels",
    "vars",
    "dot_source",
    "source_name",
    "prepared_graph",
    "config",
    "warnings",
    "dry_run",
    "error_message",
    "current_node",
    "pause_requested",
    "owner_pid",
    "created_by",
    "created_at",
    "started_at",
    "finished_at",
    "updated_at",
)
# Stored in run_graphs: written once, never updated, and kept out of the row the engine
# updates at every stage (migration 0003).
_GRAPH_COLUMNS = ("dot_source", "prepared_graph")
_ROW_COLUMNS = tuple(name for name in _RUN_COLUMNS if name not in _GRAPH_COLUMNS)
_UPDATABLE = frozenset(_ROW_COLUMNS) - {"id", "created_at"}


def _to_column(name: str, value: Any) -> Any:
    if name in _JSON_FIELDS:
        return _dumps(value)
    if name in _BOOL_FIELDS:
        return int(bool(value))
    return value


def _run_from_row(row: Row) -> RunRecord:
    values: dict[str, Any] = {name: row[name] for name in _RUN_COLUMNS}
    for name in _JSON_FIELDS:
        values[name] = json.loads(values[name])
    for name in _BOOL_FIELDS:
        values[name] = bool(values[name])
    return RunRecord(**values)


# A whole run: its row and its graph.
_SELECT_RUNS = (
    "SELECT runs.*, g.dot_source, g.prepared_graph FROM runs"
    " JOIN run_graphs AS g ON g.run_id = runs.id"
)
_GET_RUN = f"{_SELECT_RUNS} WHERE runs.id = ?"


# ---- writes ----------------------------------------------------------------------------------


def insert_run(tx: WriteTx, run: RunRecord) -> None:
    placeholders = ", ".join("?" for _ in _ROW_COLUMNS)
    tx.execute(
        f"INSERT INTO runs ({', '.join(_ROW_COLUMNS)}) VALUES ({placeholders})",
        [_to_column(name, getattr(run, name)) for name in _ROW_COLUMNS],
    )
    tx.execute(
        "INSERT INTO run_graphs (run_id, dot_source, prepared_graph) VALUES (?, ?, ?)",
        [run.id, *(_to_column(name, getattr(run, name)) for name in _GRAPH_COLUMNS)],
    )


def update_run(tx: WriteTx, run_id: str, **changes: Any) -> int:
    """Update columns of one run; returns 1 if the run exists. `updated_at` is required."""
    unknown = set(changes) - _UPDATABLE
    if unknown:
        raise ValueError(f"not run columns: {sorted(unknown)}")
    assignments = ", ".join(f"{name} = ?" for name in changes)
    params = [_to_column(name, value) for name, value in changes.items()]
    return tx.execute(f"UPDATE runs SET {assignments} WHERE id = ?", [*params, run_id])


def transition(
    tx: WriteTx, run_id: str, allowed_from: Iterable[str], **changes: Any
) -> RunRecord | None:
    """Change a run only if its status is in ``allowed_from``; returns the updated run."""
    statuses = tuple(allowed_from)
    marks = ", ".join("?" for _ in statuses)
    assignments = ", ".join(f"{name} = ?" for name in changes)
    params = [_to_column(name, value) for name, value in changes.items()]
    changed = tx.execute(
        f"UPDATE runs SET {assignments} WHERE id = ? AND status IN ({marks})",
        [*params, run_id, *statuses],
    )
    if not changed:
        return None
    row = tx.fetchone(_GET_RUN, [run_id])
    return _run_from_row(row) if row else None


def count_queued_in(tx: WriteTx) -> int:
    """How many runs are queued (a new run's queue position, counted in its transaction)."""
    row = tx.fetchone("SELECT COUNT(*) FROM runs WHERE status = 'queued'")
    return int(row[0]) if row else 0


def save_checkpoint(tx: WriteTx, run_id: str, data: dict[str, Any] | str, ts: str) -> None:
    """Replace the run's checkpoint as one document; ``data`` may be already-serialized JSON.

    The engine writes only what each stage changed (its ``StateDelta``, ``checkpoints.save``).
    """
    checkpoints.save_whole(tx, run_id, data, ts)


_FIND_KEY = "SELECT * FROM idempotency_keys WHERE principal = ? AND key = ? AND created_at >= ?"


def find_idempotency_key(
    tx: WriteTx, principal: str, key: str, not_before: str
) -> IdempotencyRecord | None:
    """The remembered key, read inside the write transaction so concurrent requests serialize."""
    row = tx.fetchone(_FIND_KEY, [principal, key, not_before])
    return IdempotencyRecord(**dict(row)) if row else None


async def remembered_key(
    db: Database, principal: str, key: str, not_before: str
) -> IdempotencyRecord | None:
    """The same lookup outside a transaction (a fast path before any work is done)."""
    row = await db.fetchone(_FIND_KEY, [principal, key, not_before])
    return IdempotencyRecord(**dict(row)) if row else None


def remember_idempotency_key(tx: WriteTx, record: IdempotencyRecord) -> None:
    tx.execute(
        "INSERT INTO idempotency_keys (principal, key, request_hash, run_id, created_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (principal, key) DO UPDATE SET"
        " request_hash = excluded.request_hash, run_id = excluded.run_id,"
        " created_at = excluded.created_at",
        [record.principal, record.key, record.request_hash, record.run_id, record.created_at],
    )


# ---- reads -----------------------------------------------------------------------------------


async def get_run(db: Database, run_id: str) -> RunRecord | None:
    row = await db.fetchone(_GET_RUN, [run_id])
    return _run_from_row(row) if row else None


_SUMMARY_COLUMNS = (
    "id, status, title, created_at, workflow_slug, graph_name, goal, labels, error_message,"
    " current_node, started_at, finished_at, created_by"
)
_GET_SUMMARY = f"SELECT {_SUMMARY_COLUMNS} FROM runs WHERE id = ?"


async def get_run_summary(db: Database, run_id: str) -> RunSummary | None:
    """What a status view needs of the run: no source, graph or config is read or decoded.

    A primary-key lookup of short columns, so it is read inline (``Database.fetchone_inline``).
    """
    row = await db.fetchone_inline(_GET_SUMMARY, [run_id])
    return None if row is None else _summary_from_row(row)


def _summary_from_row(row: Row) -> RunSummary:
    return RunSummary(
        id=row["id"],
        status=row["status"],
        title=row["title"],
        created_at=row["created_at"],
        workflow_slug=row["workflow_slug"],
        graph_name=row["graph_name"],
        goal=row["goal"],
        labels=json.loads(row["labels"]),
        error_message=row["error_message"],
        current_node=row["current_node"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        created_by=row["created_by"],
    )


def get_run_in(tx: WriteTx, run_id: str) -> RunRecord | None:
    row = tx.fetchone(_GET_RUN, [run_id])
    return _run_from_row(row) if row else None


async def list_runs(
    db: Database,
    *,
    limit: int,
    offset: int,
    statuses: Sequence[str] = (),
    workflow_slug: str | None = None,
) -> Page[RunSummary]:
    """Summaries of runs newest first (created_at, then id, descending), optionally filtered."""
    match = RunFilter(statuses=tuple(statuses), workflow_slug=workflow_slug)
    return await find_runs(db, match, limit=limit, offset=offset)


async def find_runs(db: Database, match: RunFilter, *, limit: int, offset: int) -> Page[RunSummary]:
    """Summaries of the runs ``match`` covers, newest first (created_at, then id, descending)."""
    clause, params = _where(match)
    rows = await db.fetchall(
        f"SELECT {_SUMMARY_COLUMNS} FROM runs {clause}"
        " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
        [*params, limit + 1, offset],
    )
    runs = [_summary_from_row(row) for row in rows[:limit]]
    return Page(runs, has_more=len(rows) > limit)


async def count_runs_by_state(db: Database, match: RunFilter) -> dict[tuple[str, bool], int]:
    """How many runs ``match`` covers, by (status, waiting): one read, whatever the filter.

    Two counts in one statement (one snapshot): all runs by status, and the waiting ones by
    status. Grouping by the waiting test itself sorted every row (5 ms at 10,000 runs);
    these two walk the status index (1 ms).
    """
    clause, params = _where(match)
    waiting = f"{clause} AND {_WAITING}" if clause else f"WHERE {_WAITING}"
    rows = await db.fetchall(
        f"SELECT status, 0 AS waiting, COUNT(*) AS n FROM runs {clause} GROUP BY status"
        f" UNION ALL SELECT status, 1, COUNT(*) FROM runs {waiting} GROUP BY status",
        [*params, *params],
    )
    counts: dict[tuple[str, bool], int] = {}
    for row in rows:
        counts[(row["status"], bool(row["waiting"]))] = int(row["n"])
    for (status, is_waiting), n in list(counts.items()):
        if is_waiting:  # the first count holds these too
            counts[(status, False)] -= n
    return {state: n for state, n in counts.items() if n}


# A run waits for a person: an engine works on it and one of its questions is pending.
_WAITING = (
    "(runs.status IN ('starting', 'running', 'paused') AND EXISTS"
    " (SELECT 1 FROM questions AS q WHERE q.status = 'pending' AND q.run_id = runs.id))"
)


def _where(match: RunFilter) -> tuple[str, list[Any]]:
    """The WHERE clause of ``match`` with its parameters (every value a parameter)."""
    where: list[str] = []
    params: list[Any] = []

    def among(column: str, values: Sequence[str]) -> None:
        where.append(f"{column} IN ({', '.join('?' for _ in values)})")
        params.extend(values)

    if match.statuses:
        among("runs.status", match.statuses)
    if match.run_ids:
        among("runs.id", match.run_ids)
    if match.workflow_slug is not None:
        where.append("runs.workflow_slug = ?")
        params.append(match.workflow_slug)
    if match.created_by is not None:
        where.append("runs.created_by = ?")
        params.append(match.created_by)
    for key, value in match.labels:
        where.append(
            "EXISTS (SELECT 1 FROM json_each(runs.labels) AS l WHERE l.key = ? AND l.value = ?)"
        )
        params.extend((key, value))
    if match.waiting is not None:
        where.append(_WAITING if match.waiting else f"NOT {_WAITING}")
    return (f"WHERE {' AND '.join(where)}" if where else ""), params


async def runs_with_status(
    db: Database, statuses: Sequence[str], *, limit: int = -1
) -> list[RunRecord]:
    """Runs in any of ``statuses``, oldest first (the scheduler's FIFO order); -1: no limit."""
    rows = await db.fetchall(
        f"{_SELECT_RUNS} WHERE runs.status IN ({', '.join('?' for _ in statuses)})"
        " ORDER BY runs.created_at, runs.id LIMIT ?",
        [*statuses, limit],
    )
    return [_run_from_row(row) for row in rows]


async def queue_position(db: Database, run: RunRecord | RunSummary) -> int | None:
    """1-based rank of a queued run among queued runs in FIFO order."""
    if run.status != "queued":
        return None
    row = await db.fetchone(
        "SELECT COUNT(*) FROM runs WHERE status = 'queued'"
        " AND (created_at < ? OR (created_at = ? AND id <= ?))",
        [run.created_at, run.created_at, run.id],
    )
    return int(row[0]) if row else None


async def queue_positions(db: Database) -> dict[str, int]:
    """The ``queue_position`` of every queued run, in one read."""
    rows = await db.fetchall("SELECT id FROM runs WHERE status = 'queued' ORDER BY created_at, id")
    return {row["id"]: position for position, row in enumerate(rows, start=1)}


async def get_checkpoint(db: Database, run_id: str) -> CheckpointRecord | None:
    loaded = await checkpoints.load(db, run_id)
    if loaded is None:
        return None
    data, updated_at = loaded
    return CheckpointRecord(run_id, data, updated_at)
