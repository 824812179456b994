"""The single write path: WAL, pragmas, migrations, atomic transactions, many writers."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from fabro.clock import now_ts
from fabro.storage import runs
from fabro.storage.db import SCHEMA_VERSION, Database
from fabro.storage.records import NewEvent, RunRecord


def make_run(run_id: str, created_at: str | None = None) -> RunRecord:
    ts = created_at or now_ts()
    return RunRecord(
        id=run_id,
        status="queued",
        title="t",
        graph_name="G",
        dot_source="digraph G {}",
        prepared_graph={"nodes": []},
        created_at=ts,
        updated_at=ts,
    )


@pytest.fixture
async def db(tmp_path: Path):  # type: ignore[no-untyped-def]
    database = await Database.open(tmp_path / "fabro.db")
    yield database
    await database.close()


async def test_pragmas_are_set_on_every_connection(db: Database) -> None:
    for fetch in (db.fetchone,):
        assert (await fetch("PRAGMA journal_mode"))[0] == "wal"  # type: ignore[index]
        assert (await fetch("PRAGMA foreign_keys"))[0] == 1  # type: ignore[index]
        assert (await fetch("PRAGMA synchronous"))[0] == 1  # type: ignore[index]  # NORMAL
        assert (await fetch("PRAGMA busy_timeout"))[0] == 5000  # type: ignore[index]
    async with db.transaction() as tx:
        assert (await tx.fetchone("PRAGMA foreign_keys"))[0] == 1  # type: ignore[index]
        assert (await tx.fetchone("PRAGMA synchronous"))[0] == 1  # type: ignore[index]


async def test_migrations_run_once_and_are_idempotent_on_restart(tmp_path: Path) -> None:
    path = tmp_path / "fabro.db"
    first = await Database.open(path)
    async with first.transaction() as tx:
        await runs.insert_run(tx, make_run("R1"))
    await first.close()
    second = await Database.open(path)
    try:
        assert (await second.fetchone("PRAGMA user_version"))[0] == SCHEMA_VERSION  # type: ignore[index]
        assert await second.migrate() == SCHEMA_VERSION
        assert (await runs.get_run(second, "R1")) is not None  # data kept, tables not recreated
    finally:
        await second.close()


async def test_failed_transaction_leaves_no_partial_rows(db: Database) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with db.transaction() as tx:
            await runs.insert_run(tx, make_run("R1"))
            await runs.append_events(tx, "R1", [NewEvent.of({"RunQueued": {}})], now_ts())
            raise RuntimeError("boom")
    assert await runs.get_run(db, "R1") is None
    assert await runs.events_after(db, "R1", 0) == []


async def test_constraint_violation_rolls_back_the_whole_transaction(db: Database) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        async with db.transaction() as tx:
            await runs.insert_run(tx, make_run("R1"))
            # an event for a run that does not exist violates the foreign key
            await runs.append_events(tx, "missing", [NewEvent.of({"RunQueued": {}})], now_ts())
    assert await runs.get_run(db, "R1") is None


async def test_cancelled_transaction_rolls_back(db: Database) -> None:
    entered = asyncio.Event()

    async def writer() -> None:
        async with db.transaction() as tx:
            await runs.insert_run(tx, make_run("R1"))
            entered.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(writer())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await runs.get_run(db, "R1") is None
    async with db.transaction() as tx:  # the write path is usable again
        await runs.insert_run(tx, make_run("R2"))
    assert await runs.get_run(db, "R2") is not None


async def test_many_concurrent_writers_never_see_database_locked(tmp_path: Path) -> None:
    # Two Database objects on one file behave like two processes: they contend for the
    # SQLite write lock, not just for our asyncio lock.
    one = await Database.open(tmp_path / "fabro.db")
    two = await Database.open(tmp_path / "fabro.db")
    try:
        async with one.transaction() as tx:
            await runs.insert_run(tx, make_run("R"))

        async def append(db: Database, n: int) -> None:
            for _ in range(10):
                async with db.transaction() as tx:
                    await runs.append_events(
                        tx, "R", [NewEvent.of({"Prompt": {"stage": str(n), "text": ""}})], now_ts()
                    )

        await asyncio.gather(*(append(one if n % 2 else two, n) for n in range(40)))
        events = await runs.events_after(one, "R", 0, limit=10_000)
        assert [e.seq for e in events] == list(range(1, 401))  # gap-free, no duplicates
    finally:
        await one.close()
        await two.close()


async def test_reads_see_committed_writes_only(db: Database) -> None:
    async with db.transaction() as tx:
        await runs.insert_run(tx, make_run("R1"))
        assert await runs.get_run(db, "R1") is None  # the reader sees the last commit
    assert await runs.get_run(db, "R1") is not None


async def test_close_is_idempotent(tmp_path: Path) -> None:
    database = await Database.open(tmp_path / "x.db")
    await database.close()
    await database.close()
    with pytest.raises(RuntimeError):
        async with database.transaction():
            pass


async def test_in_memory_database_works(tmp_path: Path) -> None:
    database = await Database.open(":memory:")
    try:
        async with database.transaction() as tx:
            await runs.insert_run(tx, make_run("R1"))
        assert await runs.get_run(database, "R1") is not None
    finally:
        await database.close()
