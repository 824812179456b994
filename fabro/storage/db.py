"""One SQLite database: its writer (fabro.storage.writer), its readers, and opening it.

Reads: an aiosqlite connection. WAL lets it read while a write is in progress; it sees the
last committed state. Point reads of a few short columns (``fetchone_inline``) run on the event
loop itself, on a connection that never waits for a lock: for them the hop to the reader
thread and back costs more than the read.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from fabro.storage import migrate
from fabro.storage.connection import (
    PRAGMAS,
    Row,
    create_private,
    inline_connection,
    is_memory,
)
from fabro.storage.wal import WalCheckpointer
from fabro.storage.writer import Writer, WriteTx, outcome_of

T = TypeVar("T")
_memory_databases = itertools.count(1)


class Database:
    """One SQLite file (or an in-memory database) with the write path and a reader."""

    def __init__(self, path: str, writer: Writer, reader: aiosqlite.Connection | None) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader  # None for in-memory databases: the writer connection reads
        self._inline: sqlite3.Connection | None = None  # fetchone_inline, on the loop's thread
        self._checkpointer: WalCheckpointer | None = None  # None for in-memory databases
        self._closed = False
        # The scheduled hand-over of queued writes to the writer thread, its loop and time.
        self._wake: asyncio.Handle | None = None
        self._wake_loop: asyncio.AbstractEventLoop | None = None
        self._wake_due = 0.0
        # Writes merged by their caller and not queued yet (``defer``), queued before any other.
        self._deferred: list[Callable[[], None]] = []

    @property
    def in_memory(self) -> bool:
        return is_memory(self.path)

    @classmethod
    async def open(cls, path: Path | str) -> Database:
        """Open (creating it if needed) and migrate the database at ``path``.

        ``":memory:"`` gives a private in-memory database (benchmarks and tests): the writer
        connection serves the reads, and point reads (``fetchone_inline``) use a second
        connection to the same shared-cache database that reads uncommitted rows, so that it
        never takes a table lock the writer would have to wait for.
        """
        location = str(path)
        target = location
        if is_memory(location):
            target = f"file:fabro-memory-{os.getpid()}-{next(_memory_databases)}"
            target += "?mode=memory&cache=shared"
        else:
            create_private(location)
        writer = Writer(target)
        db = cls(location, writer, None)
        try:
            await db._in_writer(writer.open)
            await db._in_writer(db._migrate)
            if not is_memory(location):
                db._checkpointer = WalCheckpointer(location)
                db._checkpointer.start()
                reader = await aiosqlite.connect(location, isolation_level=None)
                db._reader = reader
                reader.row_factory = sqlite3.Row
                for pragma in PRAGMAS:
                    await reader.execute(pragma)
            db._inline = inline_connection(target)
        except BaseException:
            await db.close()
            raise
        return db

    async def _in_writer(self, fn: Callable[[], T]) -> T:
        if self._deferred:
            self._queue_deferred()
        self._wake_writer()  # writes queued earlier run first
        return await self._writer.call(fn)

    def _migrate(self) -> int:
        return migrate.migrate(self._writer, self.path)

    async def migrate(self) -> int:
        return await self._in_writer(self._migrate)

    async def write(self, fn: Callable[[WriteTx], T]) -> T:
        """The single write path: run ``fn`` atomically in the writer thread; its result.

        ``fn`` must only act on the database: if another write of its group fails, it is
        rolled back and run again.
        """
        return await outcome_of(self.submit(fn))

    def submit(
        self,
        fn: Callable[[WriteTx], T],
        *,
        within_s: float = 0.0,
        failed: Callable[[BaseException], None] | None = None,
    ) -> asyncio.Future[T]:
        """Queue ``fn`` as ``write`` does, without waiting: the future is done once it is
        committed (or failed). Writes run in submission order; the caller must retrieve the
        outcome of every future it keeps.

        ``within_s``: how long the write may wait for others to share its commit (the engine's
        events streamed while a stage runs); it is committed sooner whenever another write or
        a wait needs the writer (``hurry``). ``failed``: called in the writer thread with the
        write's failure, before the next write runs (see the module docstring)."""
        if self._closed:
            raise RuntimeError("database is closed")
        if self._deferred:
            self._queue_deferred()
        loop = asyncio.get_running_loop()
        future = self._writer.enqueue(fn, loop, failed)
        self._schedule_wake(loop, within_s)
        return future

    def defer(self, queue_it: Callable[[], None]) -> None:
        """Note a write its caller holds back to merge others into (the engine's writes of one
        loop turn): ``queue_it`` submits it, and is called before any other write is queued,
        so every write keeps its place in the order in which it was made."""
        self._deferred.append(queue_it)

    def _queue_deferred(self) -> None:
        deferred, self._deferred = self._deferred, []
        for queue_it in deferred:
            queue_it()

    def hurry(self) -> None:
        """Have the queued writes committed now: the caller is about to wait for them, so
        nothing it does before the wait could join their commit."""
        if self._deferred:
            self._queue_deferred()
        self._wake_writer()

    def _schedule_wake(self, loop: asyncio.AbstractEventLoop, within_s: float) -> None:
        # The writer thread is woken on the loop's next turn at the earliest, not at once: the
        # writes the caller queues before it next waits then share one commit (rather than the
        # thread taking each as soon as the caller releases the GIL, e.g. for a stat call).
        due = loop.time() + within_s
        if self._wake is not None:
            if self._wake_loop is loop and self._wake_due <= due:
                return  # as early a wake is already due
            self._wake.cancel()
        self._wake_loop, self._wake_due = loop, due
        if within_s <= 0:
            self._wake = loop.call_soon(self._wake_writer)
        else:
            self._wake = loop.call_at(due, self._wake_writer)

    def _wake_writer(self) -> None:
        """Hand the queued writes to the writer thread (ahead of any job queued after them)."""
        if self._wake is not None:
            self._wake.cancel()  # when called directly, not by the scheduled wake
            self._wake = None
        if self._writer.queue:
            self._writer.jobs.put(self._writer.drain)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        if self._reader is None:
            return await self._in_writer(lambda: WriteTx(self._conn()).fetchall(sql, params))
        # One hop: execute, fetch and close in the reader thread. A cursor kept open across an
        # await would hold the shared reader's snapshot while other reads interleave, and a read
        # issued after a commit could then miss it.
        return list(await self._reader.execute_fetchall(sql, params))

    def change_count(self, topic: str) -> int:
        """How many committed writes have changed ``topic`` (``WriteTx.changed``) since the
        database was opened. It goes up only after the commit: a reader that sees no change
        after reading the count missed nothing committed since."""
        return self._writer.change_counts.get(topic, 0)

    async def fetchone_inline(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """``fetchone`` run right here on the event loop, for a point read of a few columns.

        Handing such a read to the reader thread costs more CPU than the read (a wake-up each
        way and the GIL changing hands: some 50-100 µs, against some 20 µs for a primary-key
        lookup of a dozen short columns in cached pages). The inline connection never waits
        for a lock (busy_timeout 0) and only reads (query_only); if SQLite answers busy, or
        anything else goes wrong, the read goes to the reader thread like any other. Only for
        one row by key whose columns the caller handles on the loop anyway (e.g. sends them);
        scans, large columns and multi-row reads belong in ``fetchone``/``fetchall``.
        """
        if self._inline is not None:
            try:
                # fetchall: stepping to the end resets the statement, which ends the read
                # transaction (an open one would pin the WAL snapshot).
                rows = self._inline.execute(sql, params).fetchall()
            except sqlite3.Error:
                pass
            else:
                return rows[0] if rows else None
        return await self.fetchone(sql, params)

    def _conn(self) -> sqlite3.Connection:
        assert self._writer.conn is not None
        return self._writer.conn

    async def close(self) -> None:
        """Finish queued writes, then close both connections. Safe to call twice."""
        if self._closed:
            return
        if self._deferred:
            self._queue_deferred()  # held-back writes are writes made before the close
        self._closed = True
        try:
            if self._checkpointer is not None:
                await asyncio.to_thread(self._checkpointer.stop)
            await self._in_writer(self._writer.close)
        finally:
            self._writer.stop()
            if self._inline is not None:
                with contextlib.suppress(sqlite3.ProgrammingError):  # closed from another thread
                    self._inline.close()
                self._inline = None
            if self._reader is not None:
                await self._reader.close()
