"""The single write path: one writer thread, its queue of writes, and their transactions.

Writes: one dedicated writer thread owns the only write connection. A write is a plain
function ``fn(tx)`` run by ``await db.write(fn)`` (or ``db.submit(fn)``, which does not wait)
entirely inside that thread, atomically: it commits whole or not at all (it is rolled back if
it raises). One thread means one writer at a time, in submission order; one function per
write means one thread hop per commit, whatever it contains, and a write is never left
half-done by a cancelled task. ``BEGIN IMMEDIATE`` takes SQLite's write lock up front, so a
transaction never fails half way with SQLITE_BUSY, and a busy database (another process) is
waited for and retried.

Group commit: the writes queued together run in one ``BEGIN IMMEDIATE ... COMMIT``. A commit
costs far more than the statements of a typical write (it appends every page it changed to the
WAL), so writes made without waiting in between, or queued while the thread was busy, share
one. The thread is woken on the event loop's next turn after a write is queued, so it finds
all the writes queued before the caller next waits; a write submitted with ``within_s`` (the
engine's events streamed while a stage runs) may wait up to that long for company. If one
write of a group fails, the group is rolled back and its writes run again one transaction
each: a failing write never takes others with it. Nothing is reported done before its COMMIT;
callers still publish only what is committed.

A write that fails for lack of space (SQLITE_FULL, ENOSPC) is rolled back whole like any
other, and its outcome is ``InsufficientStorage`` (fabro.storage.space): classified here,
once, so that the API answers 507 and the engine holds its run instead of failing it. A
write may name a ``failed`` callback, called in this thread with the final failure of that
write (after any run alone), before any later write runs.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from fabro.storage import space, wal
from fabro.storage.connection import Row, connect, is_memory

log = logging.getLogger(__name__)

# Another process may hold the write lock longer than the busy timeout (e.g. a second server
# started on the same data dir by mistake); BEGIN IMMEDIATE is retried rather than letting
# "database is locked" reach a user.
BEGIN_RETRIES = 20
# Writes sharing one commit at most (a bound on how long one transaction holds the lock).
GROUP_LIMIT = 64
# Rows of one multi-row INSERT (WriteTx.insert_rows): few distinct statement texts to cache,
# and far below SQLite's limit of 32,766 parameters.
MAX_ROWS_PER_INSERT = 64

T = TypeVar("T")


class WriteTx:
    """The write connection inside one transaction; used only in the writer thread."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.topics: set[str] = set()  # what the transaction changed, counted once committed

    def changed(self, topic: str) -> None:
        """Note that this transaction changed ``topic``: once it commits, the database's count
        of that topic's changes goes up (``Database.change_count``)."""
        self.topics.add(topic)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of changed rows."""
        return self._conn.execute(sql, params).rowcount

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)

    def insert_rows(self, insert: str, rows: Sequence[Sequence[Any]], suffix: str = "") -> None:
        """``insert`` (``INSERT INTO t (a, b)``) of every row in one multi-row statement.

        One statement, not one step per row as ``executemany`` makes (each step lets go of
        the GIL and takes it back, a wait whenever the event loop's thread holds it).
        """
        if not rows:
            return
        width = len(rows[0])
        marks = "(" + ", ".join("?" * width) + ")"
        for start in range(0, len(rows), MAX_ROWS_PER_INSERT):
            chunk = rows[start : start + MAX_ROWS_PER_INSERT]
            sql = f"{insert} VALUES {', '.join([marks] * len(chunk))}{suffix}"
            self._conn.execute(sql, [value for row in chunk for value in row])

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row: Row | None = self._conn.execute(sql, params).fetchone()
        return row

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(self._conn.execute(sql, params).fetchall())


class _Write:
    """A queued write: its function, the future that gets its outcome, and who else hears
    of its failure (in the writer thread)."""

    __slots__ = ("failed", "fn", "future", "loop")

    def __init__(
        self,
        fn: Callable[[WriteTx], Any],
        future: asyncio.Future[Any],
        loop: asyncio.AbstractEventLoop,
        failed: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.fn = fn
        self.future = future
        self.loop = loop
        self.failed = failed


# (write, succeeded, result or exception)
_Outcome = tuple[_Write, bool, Any]


def _resolve(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    """On the event loop: hand a future its outcome."""
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _settle(outcomes: list[_Outcome]) -> None:
    """On the event loop: hand each write of a group its outcome, in commit order."""
    for write, ok, value in outcomes:
        _resolve(write.future, ok, value)


class Writer:
    """The writer thread and its connection.

    A plain thread serving a queue of jobs (cheaper per job than an executor, which builds a
    concurrent Future for each); a daemon, so that a database nobody closed cannot hold up
    the interpreter's exit (an unfinished write is then rolled back, as after a crash).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None
        self.queue: deque[_Write] = deque()
        self.change_counts: dict[str, int] = {}  # topic -> commits that changed it
        self.jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._serve, name="fabro-db-writer", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            job()  # jobs report their own outcome and never raise

    def call(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        """Run ``fn`` in the writer thread; its result or exception arrives in the future."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def job() -> None:
            try:
                outcome: tuple[bool, Any] = (True, fn())
            except BaseException as exc:
                outcome = (False, space.classified(exc))
            try:
                loop.call_soon_threadsafe(_resolve, future, *outcome)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass

        self.jobs.put(job)
        return future

    def enqueue(
        self,
        fn: Callable[[WriteTx], T],
        loop: asyncio.AbstractEventLoop,
        failed: Callable[[BaseException], None] | None,
    ) -> asyncio.Future[T]:
        """Queue a write for the next drain; the future gets its outcome (on ``loop``)."""
        future: asyncio.Future[T] = loop.create_future()
        self.queue.append(_Write(fn, future, loop, failed))
        return future

    def stop(self) -> None:
        """End the thread once the jobs queued so far are done."""
        self.jobs.put(None)
        self.thread.join()

    def open(self) -> None:
        self.conn = connect(self.path)
        if not is_memory(self.path):
            self.conn.execute(wal.WRITER_PRAGMA)  # checkpoints run in their own thread (wal.py)

    def begin(self) -> None:
        assert self.conn is not None
        delay = 0.05
        for attempt in range(BEGIN_RETRIES):
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                busy = "locked" in str(exc) or "busy" in str(exc)
                if not busy or attempt == BEGIN_RETRIES - 1:
                    raise
                log.warning("database busy (held by another process); retrying")
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def transaction(self, fn: Callable[[WriteTx], T]) -> T:
        assert self.conn is not None
        self.begin()
        tx = WriteTx(self.conn)
        try:
            result = fn(tx)
            self.conn.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise
        self._count_changes(tx)
        return result

    def rollback(self) -> None:
        """End a failed transaction. SQLite may have rolled it back already (SQLITE_FULL
        does), and a COMMIT that failed leaves it open: either way none of it stays."""
        conn = self.conn
        assert conn is not None
        if not conn.in_transaction:
            return
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:  # the original failure is the one to report
            log.exception("cannot roll back a failed write")

    def _count_changes(self, tx: WriteTx) -> None:
        for topic in tx.topics:  # only this thread writes the counts
            self.change_counts[topic] = self.change_counts.get(topic, 0) + 1

    def drain(self) -> None:
        """In the writer thread: run the queued writes (see the module docstring)."""
        group: list[_Write] = []
        while self.queue and len(group) < GROUP_LIMIT:
            group.append(self.queue.popleft())
        if not group:
            return  # an earlier drain took them
        if self.queue:
            self.jobs.put(self.drain)  # more than a group's worth: the rest after this one
        outcomes = self._run_alone(group[0]) if len(group) == 1 else self._run_group(group)
        by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for outcome in outcomes:
            by_loop.setdefault(outcome[0].loop, []).append(outcome)
        for loop, settled in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, settled)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass

    def _run_alone(self, write: _Write) -> list[_Outcome]:
        try:
            return [(write, True, self.transaction(write.fn))]
        except BaseException as exc:
            failure = space.classified(exc)
        if write.failed is not None:
            try:
                write.failed(failure)
            except Exception:  # a callback's bug must not stop the writer
                log.exception("failure callback of a write raised")
        return [(write, False, failure)]

    def _run_group(self, group: list[_Write]) -> list[_Outcome]:
        """One transaction for all. Writes rarely fail, so none gets a savepoint: if one
        raises (or BEGIN or COMMIT does), everything is rolled back and each write runs again
        in a transaction of its own, so each gets its own outcome."""
        conn = self.conn
        assert conn is not None
        outcomes: list[_Outcome] = []
        try:
            self.begin()
            tx = WriteTx(conn)
            for write in group:
                outcomes.append((write, True, write.fn(tx)))
            conn.execute("COMMIT")
            self._count_changes(tx)
        except BaseException:
            self.rollback()
            return [outcome for write in group for outcome in self._run_alone(write)]
        return outcomes

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


async def outcome_of(future: asyncio.Future[T]) -> T:
    """The result of a queued write. A cancelled caller still waits for the write to finish
    (committed or rolled back in the writer thread) before the cancellation goes on, so no
    caller ever races its own write."""
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        if not future.done():
            try:
                await future
            except BaseException:
                pass
        raise
