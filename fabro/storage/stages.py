"""Stage rows and their LLM turns: the SQL behind /stages, /turns, /usage and retros."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fabro import jsontext
from fabro.storage.connection import Row
from fabro.storage.db import Database
from fabro.storage.writer import WriteTx


@dataclass(frozen=True)
class StageRecord:
    run_id: str
    stage_id: str
    node_id: str
    name: str
    visit: int
    stage_index: int
    status: str  # running | completed | failed | cancelled
    started_at: str
    handler_type: str | None = None
    parallel_parent: str | None = None
    attempts: int = 1
    finished_at: str | None = None
    duration_ms: int | None = None
    outcome: dict[str, Any] | None = None
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost: float | None = None
    ordinal: int = 0


@dataclass(frozen=True)
class TurnRecord:
    run_id: str
    stage_id: str
    n: int
    kind: str  # system | assistant | tool
    created_at: str
    content: str | None = None
    tools: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class UsageTotals:
    model: str
    stages: int
    input_tokens: int
    output_tokens: int
    cost: float
    runtime_ms: int


@dataclass(frozen=True)
class StageFinish:
    """What the per-stage commit writes onto a stage row."""

    status: str
    finished_at: str
    duration_ms: int
    attempts: int
    outcome: dict[str, Any]
    model: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    cost: float | None = None


def _stage_from_row(row: Row) -> StageRecord:
    values = dict(row)
    values["outcome"] = json.loads(values["outcome"]) if values["outcome"] else None
    return StageRecord(**values)


_INSERT_STAGE = (
    "INSERT INTO stages (run_id, stage_id, node_id, name, visit, ordinal,"
    " stage_index, handler_type, parallel_parent, status, attempts, started_at)"
    " VALUES (?, ?, ?, ?, ?,"
    " (SELECT COALESCE(MAX(ordinal), 0) + 1 FROM stages WHERE run_id = ?),"
    " ?, ?, ?, 'running', ?, ?) ON CONFLICT (run_id, stage_id) DO NOTHING"
)
# A stage whose start and finish are written together: one row, not an insert and an update.
_INSERT_FINISHED_STAGE = (
    "INSERT INTO stages (run_id, stage_id, node_id, name, visit, ordinal,"
    " stage_index, handler_type, parallel_parent, status, attempts, started_at,"
    " finished_at, duration_ms, outcome, model, input_tokens, output_tokens,"
    " cache_read_tokens, cache_write_tokens, reasoning_tokens, cost)"
    " VALUES (?, ?, ?, ?, ?,"
    " (SELECT COALESCE(MAX(ordinal), 0) + 1 FROM stages WHERE run_id = ?),"
    " ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (run_id, stage_id) DO NOTHING"
)


def start_stage(tx: WriteTx, stage: StageRecord, finish: StageFinish | None = None) -> None:
    """Insert the stage as running, or restart the row of a stage re-run after recovery;
    with ``finish``, the stage as finished (what ``finish_stage`` then writes)."""
    params = [
        stage.run_id,
        stage.stage_id,
        stage.node_id,
        stage.name,
        stage.visit,
        stage.run_id,
        stage.stage_index,
        stage.handler_type,
        stage.parallel_parent,
    ]
    if finish is None:
        inserted = tx.execute(_INSERT_STAGE, [*params, stage.attempts, stage.started_at])
    else:
        params += [finish.status, finish.attempts, stage.started_at]
        inserted = tx.execute(_INSERT_FINISHED_STAGE, params + _finish_values(finish))
    if inserted:
        return
    # A stage re-run after recovery (or a loop restart) stays one entry (api.md §6.12).
    tx.execute(
        "UPDATE stages SET status = 'running', attempts = ?, started_at = ?, finished_at = NULL,"
        " duration_ms = NULL, outcome = NULL, stage_index = ? WHERE run_id = ? AND stage_id = ?",
        [stage.attempts, stage.started_at, stage.stage_index, stage.run_id, stage.stage_id],
    )
    tx.execute(
        "DELETE FROM stage_turns WHERE run_id = ? AND stage_id = ?",
        [stage.run_id, stage.stage_id],
    )
    if finish is not None:
        finish_stage(tx, stage.run_id, stage.stage_id, finish)


def finish_stage(tx: WriteTx, run_id: str, stage_id: str, finish: StageFinish) -> None:
    tx.execute(
        "UPDATE stages SET status = ?, attempts = ?, finished_at = ?, duration_ms = ?,"
        " outcome = ?, model = ?, input_tokens = ?, output_tokens = ?, cache_read_tokens = ?,"
        " cache_write_tokens = ?, reasoning_tokens = ?, cost = ?"
        " WHERE run_id = ? AND stage_id = ?",
        [finish.status, finish.attempts, *_finish_values(finish), run_id, stage_id],
    )


def _finish_values(finish: StageFinish) -> list[Any]:
    """finished_at, duration_ms, outcome, model, the token counts and cost, in that order."""
    usage = finish.usage
    return [
        finish.finished_at,
        finish.duration_ms,
        jsontext.dumps(finish.outcome),
        finish.model,
        usage.get("input_tokens", 0),
        usage.get("output_tokens", 0),
        usage.get("cache_read_tokens", 0),
        usage.get("cache_write_tokens", 0),
        usage.get("reasoning_tokens", 0),
        finish.cost,
    ]


def set_attempts(tx: WriteTx, run_id: str, stage_id: str, attempts: int) -> None:
    tx.execute(
        "UPDATE stages SET attempts = ? WHERE run_id = ? AND stage_id = ?",
        [attempts, run_id, stage_id],
    )


def close_running_stages(tx: WriteTx, run_id: str, status: str, ts: str) -> None:
    """Mark every unfinished stage of a run (cancel, or a run that failed mid-stage)."""
    tx.execute(
        "UPDATE stages SET status = ?, finished_at = ? WHERE run_id = ? AND status = 'running'",
        [status, ts, run_id],
    )


def append_turn(
    tx: WriteTx,
    run_id: str,
    stage_id: str,
    kind: str,
    created_at: str,
    content: str | None,
    tools: list[dict[str, Any]] | None,
) -> None:
    """Add the stage's next turn (numbered after its last one, in the same statement)."""
    tx.execute(
        "INSERT INTO stage_turns (run_id, stage_id, n, kind, content, tools, created_at)"
        " VALUES (?, ?,"
        " (SELECT COALESCE(MAX(n), 0) + 1 FROM stage_turns WHERE run_id = ? AND stage_id = ?),"
        " ?, ?, ?, ?)",
        [run_id, stage_id, run_id, stage_id, kind, content, tools_json(tools), created_at],
    )


# run_id, stage_id, n, kind, content, tools (JSON), created_at: a turn as insert_turns takes it
TurnRow = tuple[str, str, int, str, str | None, str | None, str]


def insert_turns(tx: WriteTx, rows: Sequence[TurnRow]) -> None:
    """Insert turns numbered by the caller, in one statement."""
    tx.insert_rows(
        "INSERT INTO stage_turns (run_id, stage_id, n, kind, content, tools, created_at)", rows
    )


def tools_json(tools: list[dict[str, Any]] | None) -> str | None:
    return json.dumps(tools, ensure_ascii=False) if tools is not None else None


async def list_stages(db: Database, run_id: str) -> list[StageRecord]:
    rows = await db.fetchall("SELECT * FROM stages WHERE run_id = ? ORDER BY ordinal", [run_id])
    return [_stage_from_row(row) for row in rows]


async def get_stage(db: Database, run_id: str, stage_id: str) -> StageRecord | None:
    row = await db.fetchone(
        "SELECT * FROM stages WHERE run_id = ? AND stage_id = ?", [run_id, stage_id]
    )
    return _stage_from_row(row) if row else None


async def list_turns(db: Database, run_id: str, stage_id: str) -> list[TurnRecord]:
    rows = await db.fetchall(
        "SELECT * FROM stage_turns WHERE run_id = ? AND stage_id = ? ORDER BY n",
        [run_id, stage_id],
    )
    return [
        TurnRecord(
            run_id=row["run_id"],
            stage_id=row["stage_id"],
            n=row["n"],
            kind=row["kind"],
            created_at=row["created_at"],
            content=row["content"],
            tools=json.loads(row["tools"]) if row["tools"] else None,
        )
        for row in rows
    ]


async def usage_by_model(db: Database, run_ids: Sequence[str] | None = None) -> list[UsageTotals]:
    """Usage of stages that have a model, summed per model (all runs, or the given ones)."""
    where = "WHERE model IS NOT NULL"
    params: list[Any] = []
    if run_ids is not None:
        where += f" AND run_id IN ({', '.join('?' for _ in run_ids)})"
        params.extend(run_ids)
    rows = await db.fetchall(
        "SELECT model, COUNT(*) AS stages, SUM(input_tokens) AS input_tokens,"
        " SUM(output_tokens) AS output_tokens, COALESCE(SUM(cost), 0) AS cost,"
        f" COALESCE(SUM(duration_ms), 0) AS runtime_ms FROM stages {where}"
        " GROUP BY model ORDER BY model",
        params,
    )
    return [UsageTotals(**dict(row)) for row in rows]


async def count_started_runs(
    db: Database, since: str | None = None, until: str | None = None
) -> int:
    """Runs that have left `queued` (the `runs` total of GET /usage, api.md §8); with a range,
    those that started in it (``since`` included, ``until`` not)."""
    if since is None and until is None:
        row = await db.fetchone("SELECT COUNT(*) FROM runs WHERE status != 'queued'")
        return int(row[0]) if row else 0
    where, params = _range("started_at", since, until)
    row = await db.fetchone(f"SELECT COUNT(*) FROM runs WHERE {where}", params)
    return int(row[0]) if row else 0


# What a stage's usage is grouped by (GET /usage's `group_by`, the UI's usage page): the SQL
# for each grouping key. A stage counts on the (UTC) day it finished, or started when it has
# not finished; a NULL workflow is a run of pasted or uploaded DOT, a NULL user a run whose
# creator is not known.
_STAGE_TIME = "COALESCE(s.finished_at, s.started_at)"
USAGE_GROUPINGS: dict[str, str] = {
    "day": f"substr({_STAGE_TIME}, 1, 10)",
    "model": "s.model",
    "workflow": "r.workflow_slug",
    "user": "r.created_by",
}
RUN_GROUPINGS = frozenset({"workflow", "user"})  # those read from the run's row


@dataclass(frozen=True)
class UsageGroup:
    keys: tuple[str | None, ...]  # one value per grouping, in the order they were asked for
    runs: int
    stages: int
    input_tokens: int
    output_tokens: int
    cost: float
    runtime_ms: int


async def usage_by(
    db: Database, groupings: tuple[str, ...], since: str | None = None, until: str | None = None
) -> list[UsageGroup]:
    """Usage of the stages that have a model, summed per combination of ``groupings`` (keys
    of USAGE_GROUPINGS) and ordered by them; with ``since`` and ``until`` (RFC 3339 UTC, as
    stored), only the stages counted from ``since`` on and before ``until``."""
    sql, params = usage_query(groupings, since, until)
    return [_usage_group(row, len(groupings)) for row in await db.fetchall(sql, params)]


def usage_query(
    groupings: tuple[str, ...], since: str | None, until: str | None
) -> tuple[str, list[Any]]:
    """The SQL of ``usage_by`` and its parameters (a KeyError for an unknown grouping: never
    SQL from a caller)."""
    keys = [USAGE_GROUPINGS[grouping] for grouping in groupings]
    if not keys:
        raise KeyError("no grouping")
    columns = ", ".join(f"{key} AS k{n}" for n, key in enumerate(keys))
    names = ", ".join(f"k{n}" for n in range(len(keys)))
    where, params = _range(_STAGE_TIME, since, until)
    # Only a run's own groupings need its row; the stages' columns are all in stages_usage.
    join = " JOIN runs r ON r.id = s.run_id" if RUN_GROUPINGS & set(groupings) else ""
    sql = (
        f"SELECT {columns}, COUNT(DISTINCT s.run_id) AS runs, COUNT(*) AS stages,"
        " SUM(s.input_tokens) AS input_tokens, SUM(s.output_tokens) AS output_tokens,"
        " COALESCE(SUM(s.cost), 0) AS cost, COALESCE(SUM(s.duration_ms), 0) AS runtime_ms"
        f" FROM stages s{join} WHERE s.model IS NOT NULL AND {where}"
        f" GROUP BY {names} ORDER BY {names}"
    )
    return sql, params


def _usage_group(row: Row, width: int) -> UsageGroup:
    values = dict(row)
    keys = tuple(values.pop(f"k{n}") for n in range(width))
    return UsageGroup(keys, **values)


def _range(column: str, since: str | None, until: str | None) -> tuple[str, list[Any]]:
    """A WHERE clause keeping ``column`` in [since, until) (either end may be open)."""
    clauses, params = ["1"], []
    if since is not None:
        clauses.append(f"{column} >= ?")
        params.append(since)
    if until is not None:
        clauses.append(f"{column} < ?")
        params.append(until)
    return " AND ".join(clauses), params
