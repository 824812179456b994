"""Steering entries: guidance stored for a run, consumed by its next LLM request."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fabro.storage.db import Database
from fabro.storage.writer import WriteTx


@dataclass(frozen=True)
class SteeringRecord:
    run_id: str
    n: int
    guidance: str
    created_at: str
    location: dict[str, Any] | None = None
    created_by: str | None = None
    consumed_at: str | None = None
    consumed_by_stage: str | None = None

    @property
    def text(self) -> str:
        """`<guidance>` or `<guidance> (at <file>:<line>)` (engine.md §9.9)."""
        if not self.location:
            return self.guidance
        where = str(self.location.get("file", ""))
        if self.location.get("line") is not None:
            where += f":{self.location['line']}"
        return f"{self.guidance} (at {where})"


# The change topic of added steering entries (Database.change_count): steering is only ever
# added through the API of the process that runs the engine, so a run that found none need
# not look again until the count moves.
STEERING_ADDED = "steering"


def add_steering(
    tx: WriteTx,
    *,
    run_id: str,
    guidance: str,
    location: dict[str, Any] | None,
    created_by: str | None,
    created_at: str,
) -> SteeringRecord:
    row = tx.fetchone("SELECT COALESCE(MAX(n), 0) + 1 FROM steering WHERE run_id = ?", [run_id])
    n = int(row[0]) if row else 1
    tx.changed(STEERING_ADDED)
    tx.execute(
        "INSERT INTO steering (run_id, n, guidance, location, created_by, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            run_id,
            n,
            guidance,
            json.dumps(location) if location else None,
            created_by,
            created_at,
        ],
    )
    return SteeringRecord(run_id, n, guidance, created_at, location, created_by)


async def pending_steering(db: Database, run_id: str) -> list[SteeringRecord]:
    # Asked before every LLM call and almost always empty: a point probe on the loop first,
    # the full read only when there is something to read.
    probe = await db.fetchone_inline(
        "SELECT 1 FROM steering WHERE run_id = ? AND consumed_at IS NULL LIMIT 1", [run_id]
    )
    if probe is None:
        return []
    rows = await db.fetchall(
        "SELECT * FROM steering WHERE run_id = ? AND consumed_at IS NULL ORDER BY n", [run_id]
    )
    return [
        SteeringRecord(
            run_id=row["run_id"],
            n=row["n"],
            guidance=row["guidance"],
            created_at=row["created_at"],
            location=json.loads(row["location"]) if row["location"] else None,
            created_by=row["created_by"],
        )
        for row in rows
    ]


def consume_steering(tx: WriteTx, run_id: str, numbers: list[int], stage_id: str, ts: str) -> None:
    tx.executemany(
        "UPDATE steering SET consumed_at = ?, consumed_by_stage = ? WHERE run_id = ? AND n = ?",
        [(ts, stage_id, run_id, n) for n in numbers],
    )
