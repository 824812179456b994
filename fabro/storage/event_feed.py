"""Every run's events in one order: the global event stream's reads (``GET /events``).

``run_events`` is a rowid table (migrations/0005_rowid_logs.sql) written by the single
writer, so an event's rowid grows with its commit: once a reader sees rowid N, every event
before N is committed too, and "the events after rowid N" misses nothing and repeats nothing.
The rowid is each frame's SSE id. Reads scan a bounded window of rowids, so a filter that
matches few events never makes one read walk the whole table.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from fabro.storage.db import Database
from fabro.storage.records import EventRecord

SCAN_ROWS = 5000  # rowids one read looks at, at most


@dataclass(frozen=True)
class FeedFilter:
    """Which events a stream carries: every condition given must hold."""

    run_id: str | None = None
    workflow: str | None = None  # the run's registry workflow slug
    labels: tuple[tuple[str, str], ...] = ()  # the run carries every one of these labels
    variants: frozenset[str] = field(default_factory=frozenset)  # empty: every variant

    @property
    def needs_run(self) -> bool:
        return self.workflow is not None or bool(self.labels)


@dataclass(frozen=True)
class FeedEvent:
    """A run's event with its place in the global order."""

    seq: int  # the global position: run_events' rowid
    event: EventRecord


@dataclass(frozen=True)
class FeedRead:
    """What one read found, and how far it looked (the next read starts after ``through``)."""

    events: list[FeedEvent]
    through: int


def _conditions(match: FeedFilter) -> tuple[str, list[object]]:
    parts: list[str] = []
    params: list[object] = []
    if match.run_id is not None:
        parts.append("e.run_id = ?")
        params.append(match.run_id)
    if match.variants:
        variants = sorted(match.variants)
        parts.append(f"e.variant IN ({', '.join('?' * len(variants))})")
        params.extend(variants)
    if match.workflow is not None:
        parts.append("r.workflow_slug = ?")
        params.append(match.workflow)
    for key, value in match.labels:
        parts.append("EXISTS (SELECT 1 FROM json_each(r.labels) WHERE key = ? AND value = ?)")
        params.extend([key, value])
    return "".join(f" AND {part}" for part in parts), params


class EventFeed:
    """Reads of every run's events in commit order, in one SQLite database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def head(self) -> int:
        """The position of the newest stored event (0: none)."""
        row = await self.db.fetchone("SELECT COALESCE(MAX(rowid), 0) FROM run_events")
        return int(row[0]) if row else 0

    async def read(self, after: int, match: FeedFilter, *, limit: int, head: int) -> FeedRead:
        """Events ``match`` covers after position ``after``, up to ``limit`` of them, looking
        no further than SCAN_ROWS positions and than ``head``."""
        through = min(head, after + SCAN_ROWS)
        if through <= after:
            return FeedRead([], after)
        where, params = _conditions(match)
        join = " JOIN runs AS r ON r.id = e.run_id" if match.needs_run else ""
        rows = await self.db.fetchall(
            "SELECT e.rowid AS pos, e.run_id, e.seq, e.ts, e.variant, e.child_depth, e.payload"
            f" FROM run_events AS e{join} WHERE e.rowid > ? AND e.rowid <= ?{where}"
            " ORDER BY e.rowid LIMIT ?",
            [after, through, *params, limit],
        )
        events = [_event(row) for row in rows]
        if len(events) == limit:
            through = events[-1].seq  # more may match before the window's end
        return FeedRead(events, through)


def _event(row: Sequence[object]) -> FeedEvent:
    pos, run_id, seq, ts, variant, depth, payload = tuple(row)
    text = str(payload)
    record = EventRecord(
        str(run_id), int(str(seq)), str(ts), str(variant), json.loads(text), int(str(depth)), text
    )
    return FeedEvent(int(str(pos)), record)
