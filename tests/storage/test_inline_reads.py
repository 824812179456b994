"""Point reads on the event loop (Database.fetchone_inline) and the run summary built on them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from fabro.storage import runs
from fabro.storage.db import Database
from fabro.storage.records import RunSummary
from fabro.storage.writer import WriteTx
from tests.storage.rows import make_run


async def test_an_inline_read_sees_every_committed_write(db: Database) -> None:
    for n in range(5):
        run = make_run(f"R{n}")
        await db.write(lambda tx, run=run: runs.insert_run(tx, run))
        row = await db.fetchone_inline("SELECT id FROM runs WHERE id = ?", [run.id])
        assert row is not None and row["id"] == run.id
        await db.write(lambda tx, run=run: runs.update_run(tx, run.id, status="running"))
        row = await db.fetchone_inline("SELECT status FROM runs WHERE id = ?", [run.id])
        assert row is not None and row["status"] == "running"
    assert await db.fetchone_inline("SELECT id FROM runs WHERE id = ?", ["nope"]) is None


async def test_an_inline_read_leaves_no_snapshot_open(db: Database, tmp_path: Path) -> None:
    for n in range(3):
        run = make_run(f"R{n}")
        await db.write(lambda tx, run=run: runs.insert_run(tx, run))
    row = await db.fetchone_inline("SELECT id FROM runs ORDER BY id")  # more rows than one
    assert row is not None and row["id"] == "R0"
    other = sqlite3.connect(tmp_path / "fabro.db", isolation_level=None)
    try:
        # A reader still inside a statement would pin the WAL: the checkpoint would be busy.
        busy, _, _ = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0
    finally:
        other.close()


async def test_an_inline_read_that_fails_goes_to_the_reader_thread(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run("R1")
    await db.write(lambda tx: runs.insert_run(tx, run))

    class Locked:
        def execute(self, *_args: object) -> None:
            raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(db, "_inline", Locked())
    row = await db.fetchone_inline("SELECT id FROM runs WHERE id = ?", ["R1"])
    assert row is not None and row["id"] == "R1"


async def test_the_inline_connection_only_reads(db: Database) -> None:
    with pytest.raises(sqlite3.OperationalError):  # the write is refused, nothing falls back
        db._inline.execute("DELETE FROM runs")  # type: ignore[union-attr]


async def test_in_memory_databases_read_inline_and_are_private() -> None:
    db, other = await Database.open(":memory:"), await Database.open(":memory:")
    try:
        await db.write(lambda tx: runs.insert_run(tx, make_run("R1")))
        row = await db.fetchone_inline("SELECT id FROM runs WHERE id = ?", ["R1"])
        assert row is not None and row["id"] == "R1"
        assert db._inline is not None  # a second connection to the same shared-cache database
        assert await other.fetchone_inline("SELECT id FROM runs WHERE id = ?", ["R1"]) is None
        assert (await db.fetchone("SELECT id FROM runs"))["id"] == "R1"  # type: ignore[index]
    finally:
        await db.close()
        await db.close()  # closing twice is safe
        await other.close()


async def test_the_summary_holds_what_a_status_shows(db: Database) -> None:
    run = make_run("R1")
    await db.write(lambda tx: runs.insert_run(tx, run))

    def finish(tx: WriteTx) -> None:
        runs.update_run(
            tx,
            "R1",
            status="failed",
            labels={"team": "ops"},
            error_message="boom",
            current_node="work",
            started_at="2026-01-01T00:00:00.000Z",
            finished_at="2026-01-01T00:00:01.000Z",
        )

    await db.write(finish)
    full = await runs.get_run(db, "R1")
    assert full is not None
    assert await runs.get_run_summary(db, "R1") == RunSummary(
        id="R1",
        status="failed",
        title=full.title,
        created_at=full.created_at,
        workflow_slug=None,
        graph_name=full.graph_name,
        goal=full.goal,
        labels={"team": "ops"},
        error_message="boom",
        current_node="work",
        started_at="2026-01-01T00:00:00.000Z",
        finished_at="2026-01-01T00:00:01.000Z",
    )
    assert await runs.get_run_summary(db, "missing") is None
