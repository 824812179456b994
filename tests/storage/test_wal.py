"""WAL checkpoints run in their own thread, never inside a commit (storage/wal.py)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from fabro.storage import wal
from fabro.storage.db import Database
from fabro.storage.records import RunRecord
from fabro.storage.runs import insert_run
from tests.storage.rows import make_run


async def test_commits_never_checkpoint_and_the_thread_does(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "fabro.db")
    try:
        writer = db._writer  # the writer connection's own setting
        assert (
            await writer.call(
                lambda: writer.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]  # type: ignore[union-attr]
            )
            == 0
        )
        runs: list[RunRecord] = [make_run(f"R{n}") for n in range(50)]
        for run in runs:
            await db.write(lambda tx, run=run: insert_run(tx, run))
        checkpointer = db._checkpointer
        assert checkpointer is not None
        deadline = asyncio.get_running_loop().time() + 10
        while checkpointer.checkpoints == 0:
            assert asyncio.get_running_loop().time() < deadline, "no checkpoint ran"
            await asyncio.sleep(wal.INTERVAL_S)
        await asyncio.sleep(4 * wal.INTERVAL_S)  # after the last write
    finally:
        await db.close()
    assert not checkpointer._thread.is_alive()  # stopped by close


async def test_the_log_stays_bounded_while_writes_go_on(tmp_path: Path) -> None:
    """Commits never checkpoint, so only the thread keeps the log from growing with every
    write: 12 MB written in 300 commits leave a log of a few MB at most."""
    path = tmp_path / "fabro.db"
    db = await Database.open(path)
    try:
        for n in range(300):
            run = dataclasses.replace(make_run(f"R{n}"), dot_source="x" * 40_000)
            await db.write(lambda tx, run=run: insert_run(tx, run))
            if n % 30 == 29:
                await asyncio.sleep(3 * wal.INTERVAL_S)  # the thread's turn
        size = (tmp_path / "fabro.db-wal").stat().st_size
        assert size < 6_000_000, size
    finally:
        await db.close()


async def test_an_in_memory_database_has_no_checkpoint_thread() -> None:
    db = await Database.open(":memory:")
    try:
        assert db._checkpointer is None
    finally:
        await db.close()
