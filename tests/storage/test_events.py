"""Run events: numbered per run from one, read back in order."""

from __future__ import annotations

from fabro.storage import events, runs
from fabro.storage.db import Database
from fabro.storage.records import EventRecord, NewEvent
from fabro.storage.writer import WriteTx
from tests.storage.rows import make_run


async def test_events_are_numbered_per_run_from_one(db: Database) -> None:
    def setup(tx: WriteTx) -> list[EventRecord]:
        runs.insert_run(tx, make_run("A"))
        runs.insert_run(tx, make_run("B"))
        events.append_events(tx, "A", [NewEvent.of({"RunQueued": {}})] * 3, "t")
        return events.append_events(tx, "B", [NewEvent.of({"RunQueued": {}})], "t")

    stored = await db.write(setup)
    assert [e.seq for e in stored] == [1]
    assert [e.seq for e in await events.events_after(db, "A", 1)] == [2, 3]
    assert await events.last_seq(db, "A") == 3
