"""Run events: appended with the next per-run sequence numbers, read back in order.

An event's sequence number is its SSE ``id``: a reconnecting client replays from here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from fabro.storage.db import Database
from fabro.storage.records import EventRecord, NewEvent
from fabro.storage.writer import WriteTx


def append_events(
    tx: WriteTx,
    run_id: str,
    events: Sequence[NewEvent],
    ts: str | Sequence[str],
    last: int | None = None,
) -> list[EventRecord]:
    """Store events with the next per-run sequence numbers (the single writer makes this safe).

    ``ts``: the time of every event, or of each. ``last``: the run's last sequence when the
    caller read it in this transaction already.
    """
    if not events:
        return []
    if last is None:
        row = tx.fetchone("SELECT COALESCE(MAX(seq), 0) FROM run_events WHERE run_id = ?", [run_id])
        last = int(row[0]) if row else 0
    stamps = [ts] * len(events) if isinstance(ts, str) else ts
    stored = [
        EventRecord(
            run_id,
            last + offset,
            stamp,
            event.variant,
            event.payload,
            event.child_depth,
            event.text,
        )
        for offset, (event, stamp) in enumerate(zip(events, stamps, strict=True), start=1)
    ]
    tx.insert_rows(
        "INSERT INTO run_events (run_id, seq, ts, variant, child_depth, payload)",
        [(e.run_id, e.seq, e.ts, e.variant, e.child_depth, e.data_json()) for e in stored],
    )
    return stored


async def events_after(
    db: Database, run_id: str, after: int, limit: int = 1000
) -> list[EventRecord]:
    rows = await db.fetchall(
        "SELECT * FROM run_events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        [run_id, after, limit],
    )
    return [
        EventRecord(
            run_id=row["run_id"],
            seq=row["seq"],
            ts=row["ts"],
            variant=row["variant"],
            payload=json.loads(row["payload"]),
            child_depth=row["child_depth"],
        )
        for row in rows
    ]


async def last_seq(db: Database, run_id: str) -> int:
    row = await db.fetchone(
        "SELECT COALESCE(MAX(seq), 0) FROM run_events WHERE run_id = ?", [run_id]
    )
    return int(row[0]) if row else 0
