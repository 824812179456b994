"""Cron schedules and the history of their fires (schema version 12).

The ticker (fabro/schedules/ticker.py) reads the due schedules and, for each fire, records
what became of it and moves the schedule on in one transaction; the move only happens when
the schedule still waits for that fire, so two tickers (or a tick repeated after a crash)
record a fire once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any, Literal

from fabro.storage.connection import Row
from fabro.storage.db import Database
from fabro.storage.records import Page
from fabro.storage.writer import WriteTx

Missed = Literal["skip", "run_once"]
FireKind = Literal["cron", "trigger"]
FireStatus = Literal["started", "refused", "skipped"]
MISSED_POLICIES: tuple[Missed, ...] = ("skip", "run_once")
# Fires kept per schedule: older ones are deleted as new ones come, so a `* * * * *`
# schedule's history stays a day's worth, not a year's.
MAX_HISTORY = 1000
# The columns a PATCH may change (with updated_at, next_fire_at and paused).
EDITABLE = ("cron", "time_zone", "vars", "labels", "goal", "title", "missed")


@dataclass(frozen=True)
class ScheduleRecord:
    id: str
    workflow: str  # the registry workflow's slug
    cron: str
    time_zone: str
    vars: dict[str, str]
    labels: dict[str, str]
    goal: str | None
    title: str | None
    missed: Missed
    paused: bool
    created_by: str
    created_at: str
    updated_at: str
    next_fire_at: str  # UTC, fabro's timestamp text
    last_fire_at: str | None = None


@dataclass(frozen=True)
class FireRecord:
    seq: int
    schedule_id: str
    kind: FireKind
    scheduled_at: str
    status: FireStatus
    run_id: str | None
    detail: str | None
    missed_count: int
    recorded_at: str


@dataclass(frozen=True)
class NewFire:
    """A fire to record: what became of the fire of ``schedule_id`` at ``scheduled_at``."""

    schedule_id: str
    kind: FireKind
    scheduled_at: str
    status: FireStatus
    recorded_at: str
    run_id: str | None = None
    detail: str | None = None
    missed_count: int = 0


@dataclass(frozen=True)
class Advance:
    """Move a schedule from the fire it waited for (``expected``) to its next one."""

    expected: str
    next_fire_at: str
    last_fire_at: str


class Schedules:
    """Schedules and their fires in one SQLite database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, schedule: ScheduleRecord) -> ScheduleRecord:
        values = _row_values(schedule)
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        await self.db.write(
            lambda tx: tx.execute(
                f"INSERT INTO schedules ({columns}) VALUES ({marks})", list(values.values())
            )
        )
        return schedule

    async def get(self, schedule_id: str) -> ScheduleRecord | None:
        row = await self.db.fetchone("SELECT * FROM schedules WHERE id = ?", [schedule_id])
        return None if row is None else _schedule(row)

    async def count_for_workflow(self, workflow: str) -> int:
        row = await self.db.fetchone(
            "SELECT count(*) AS n FROM schedules WHERE workflow = ?", [workflow]
        )
        return int(row["n"]) if row is not None else 0

    async def list_for_workflow(
        self, workflow: str, *, limit: int, offset: int
    ) -> Page[ScheduleRecord]:
        rows = await self.db.fetchall(
            "SELECT * FROM schedules WHERE workflow = ? ORDER BY created_at, id LIMIT ? OFFSET ?",
            [workflow, limit + 1, offset],
        )
        return Page([_schedule(row) for row in rows[:limit]], len(rows) > limit)

    async def update(
        self, schedule_id: str, changes: dict[str, Any], updated_at: str
    ) -> ScheduleRecord | None:
        """Change some of EDITABLE, ``paused`` and ``next_fire_at``; the schedule after, or
        None when it does not exist."""
        allowed = {*EDITABLE, "paused", "next_fire_at"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"not a schedule column to change: {sorted(unknown)}")
        values = {name: _column_value(name, value) for name, value in changes.items()}
        values["updated_at"] = updated_at
        assignments = ", ".join(f"{name} = ?" for name in values)

        def transaction(tx: WriteTx) -> ScheduleRecord | None:
            tx.execute(
                f"UPDATE schedules SET {assignments} WHERE id = ?",
                [*values.values(), schedule_id],
            )
            row = tx.fetchone("SELECT * FROM schedules WHERE id = ?", [schedule_id])
            return None if row is None else _schedule(row)

        return await self.db.write(transaction)

    async def delete(self, schedule_id: str) -> bool:
        """Delete a schedule and its history; whether it existed."""
        deleted = await self.db.write(
            lambda tx: tx.execute("DELETE FROM schedules WHERE id = ?", [schedule_id])
        )
        return deleted > 0

    async def due(self, now: str, *, limit: int = 100) -> list[ScheduleRecord]:
        """The schedules not paused whose next fire is at or before ``now``, earliest first."""
        rows = await self.db.fetchall(
            "SELECT * FROM schedules WHERE paused = 0 AND next_fire_at <= ?"
            " ORDER BY next_fire_at, id LIMIT ?",
            [now, limit],
        )
        return [_schedule(row) for row in rows]

    async def record_fire(self, fire: NewFire, advance: Advance | None = None) -> bool:
        """Record ``fire`` and, with ``advance``, move its schedule on, in one transaction.

        Returns whether this call recorded it: False when the fire was recorded already or
        the schedule no longer waits for ``advance.expected`` (another ticker did it)."""

        def transaction(tx: WriteTx) -> bool:
            if advance is not None:
                moved = tx.execute(
                    "UPDATE schedules SET next_fire_at = ?, last_fire_at = ?"
                    " WHERE id = ? AND next_fire_at = ?",
                    [
                        advance.next_fire_at,
                        advance.last_fire_at,
                        fire.schedule_id,
                        advance.expected,
                    ],
                )
                if not moved:
                    return False
            inserted = tx.execute(
                "INSERT INTO schedule_fires (schedule_id, kind, scheduled_at, status, run_id,"
                " detail, missed_count, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (schedule_id, kind, scheduled_at) DO NOTHING",
                [
                    fire.schedule_id,
                    fire.kind,
                    fire.scheduled_at,
                    fire.status,
                    fire.run_id,
                    fire.detail,
                    fire.missed_count,
                    fire.recorded_at,
                ],
            )
            if inserted:
                # Bounded: a row or two per insert, as one is added each time.
                tx.execute(
                    "DELETE FROM schedule_fires WHERE schedule_id = ? AND seq <= ("
                    " SELECT seq FROM schedule_fires WHERE schedule_id = ?"
                    " ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                    [fire.schedule_id, fire.schedule_id, MAX_HISTORY],
                )
            return inserted > 0

        return await self.db.write(transaction)

    async def get_fire(
        self, schedule_id: str, kind: FireKind, scheduled_at: str
    ) -> FireRecord | None:
        row = await self.db.fetchone(
            "SELECT * FROM schedule_fires WHERE schedule_id = ? AND kind = ? AND scheduled_at = ?",
            [schedule_id, kind, scheduled_at],
        )
        return None if row is None else _fire(row)

    async def history(self, schedule_id: str, *, limit: int, offset: int) -> Page[FireRecord]:
        """A schedule's fires, newest first."""
        rows = await self.db.fetchall(
            "SELECT * FROM schedule_fires WHERE schedule_id = ? ORDER BY seq DESC LIMIT ? OFFSET ?",
            [schedule_id, limit + 1, offset],
        )
        return Page([_fire(row) for row in rows[:limit]], len(rows) > limit)


def _column_value(name: str, value: Any) -> Any:
    if name in ("vars", "labels"):
        return json.dumps(value, sort_keys=True)
    if name == "paused":
        return 1 if value else 0
    return value


def _row_values(schedule: ScheduleRecord) -> dict[str, Any]:
    return {
        item.name: _column_value(item.name, getattr(schedule, item.name))
        for item in fields(schedule)
    }


def _schedule(row: Row) -> ScheduleRecord:
    return ScheduleRecord(
        id=row["id"],
        workflow=row["workflow"],
        cron=row["cron"],
        time_zone=row["time_zone"],
        vars=dict(json.loads(row["vars"])),
        labels=dict(json.loads(row["labels"])),
        goal=row["goal"],
        title=row["title"],
        missed=row["missed"],
        paused=bool(row["paused"]),
        created_by=row["created_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        next_fire_at=row["next_fire_at"],
        last_fire_at=row["last_fire_at"],
    )


def _fire(row: Row) -> FireRecord:
    return FireRecord(
        seq=int(row["seq"]),
        schedule_id=row["schedule_id"],
        kind=row["kind"],
        scheduled_at=row["scheduled_at"],
        status=row["status"],
        run_id=row["run_id"],
        detail=row["detail"],
        missed_count=int(row["missed_count"]),
        recorded_at=row["recorded_at"],
    )
