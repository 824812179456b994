"""The runs repository: round trips, ordering, pagination, transitions, checkpoints, keys."""

from __future__ import annotations

from fabro.storage import runs
from fabro.storage.db import Database
from fabro.storage.records import IdempotencyRecord
from fabro.storage.writer import WriteTx
from tests.storage.rows import make_run


async def test_run_round_trips_every_field(db: Database) -> None:
    run = make_run("R1")
    from dataclasses import replace

    run = replace(
        run,
        labels={"team": "web"},
        vars={"a": "b"},
        warnings=[{"rule": "x"}],
        config={"llm": {"model": "m"}},
        dry_run=True,
        workflow_slug="fix",
        created_by="alice",
    )
    await db.write(lambda tx: runs.insert_run(tx, run))
    assert await runs.get_run(db, "R1") == run


async def test_list_runs_newest_first_with_pagination_and_filters(db: Database) -> None:
    def setup(tx: WriteTx) -> None:
        for n in range(5):
            runs.insert_run(tx, make_run(f"R{n}", f"2026-01-01T00:00:0{n}.000Z"))
        runs.update_run(tx, "R1", status="running", updated_at="x", workflow_slug="w")

    await db.write(setup)
    page = await runs.list_runs(db, limit=2, offset=0)
    assert [r.id for r in page.items] == ["R4", "R3"] and page.has_more
    page = await runs.list_runs(db, limit=2, offset=4)
    assert [r.id for r in page.items] == ["R0"] and not page.has_more
    page = await runs.list_runs(db, limit=10, offset=0, statuses=["running"])
    assert [r.id for r in page.items] == ["R1"]
    page = await runs.list_runs(db, limit=10, offset=0, workflow_slug="w")
    assert [r.id for r in page.items] == ["R1"]


async def test_queue_position_is_fifo_rank_among_queued(db: Database) -> None:
    def setup(tx: WriteTx) -> None:
        for n in range(3):
            runs.insert_run(tx, make_run(f"R{n}", f"2026-01-01T00:00:0{n}.000Z"))
        runs.update_run(tx, "R0", status="running", updated_at="x")

    await db.write(setup)
    positions = [
        await runs.queue_position(db, r)
        for r in await runs.runs_with_status(db, ["queued", "running"])
    ]
    assert positions == [None, 1, 2]


async def test_transition_only_from_allowed_statuses(db: Database) -> None:
    def moves(tx: WriteTx) -> object:
        runs.insert_run(tx, make_run("R1"))
        assert runs.transition(tx, "R1", ["running"], status="paused", updated_at="x") is None
        return runs.transition(tx, "R1", ["queued"], status="cancelled", updated_at="x")

    moved = await db.write(moves)
    assert moved is not None and moved.status == "cancelled"  # type: ignore[attr-defined]


async def test_checkpoint_is_replaced(db: Database) -> None:
    def setup(tx: WriteTx) -> None:
        runs.insert_run(tx, make_run("R1"))
        runs.save_checkpoint(tx, "R1", {"n": 1}, "t1")
        runs.save_checkpoint(tx, "R1", {"n": 2}, "t2")

    await db.write(setup)
    checkpoint = await runs.get_checkpoint(db, "R1")
    assert checkpoint is not None and checkpoint.data == {"n": 2}


async def test_idempotency_keys_expire_by_window(db: Database) -> None:
    record = IdempotencyRecord("alice", "k", "h", "R1", "2026-01-02T00:00:00.000Z")

    def check(tx: WriteTx) -> None:
        runs.insert_run(tx, make_run("R1"))
        runs.remember_idempotency_key(tx, record)
        assert runs.find_idempotency_key(tx, "alice", "k", "2026-01-01T00:00:00.000Z") == record
        assert runs.find_idempotency_key(tx, "alice", "k", "2026-01-03T00:00:00.000Z") is None
        assert runs.find_idempotency_key(tx, "bob", "k", "2026-01-01T00:00:00.000Z") is None

    await db.write(check)
