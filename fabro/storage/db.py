"""SQLite connections, pragmas, migrations and the single write path.

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

Reads: an aiosqlite connection. WAL lets it read while a write is in progress; it sees the
last committed state. Point reads of a few short columns (``fetchone_inline``) run on the event
loop itself, on a connection that never waits for a lock: for them the hop to the reader
thread and back costs more than the read.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from fabro import filemodes
from fabro.storage import space

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
# Another process may hold the write lock longer than the busy timeout (e.g. a second server
# started on the same data dir by mistake); BEGIN IMMEDIATE is retried rather than letting
# "database is locked" reach a user.
BEGIN_RETRIES = 20
# Writes sharing one commit at most (a bound on how long one transaction holds the lock).
GROUP_LIMIT = 64
# Rows of one multi-row INSERT (WriteTx.insert_rows): few distinct statement texts to cache,
# and far below SQLite's limit of 32,766 parameters.
MAX_ROWS_PER_INSERT = 64

Row = sqlite3.Row
T = TypeVar("T")


def _migrations() -> list[tuple[int, str]]:
    """The numbered SQL files of fabro/storage/migrations, in order."""
    folder = resources.files("fabro.storage") / "migrations"
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), entry.read_text(encoding="utf-8")))
    return sorted(found)


MIGRATIONS = _migrations()
SCHEMA_VERSION = MIGRATIONS[-1][0]
PRAGMAS = (
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
)


def _is_memory(path: str) -> bool:
    return path == ":memory:" or (path.startswith("file:") and "mode=memory" in path)


_memory_databases = itertools.count(1)


def _connect(target: str) -> sqlite3.Connection:
    # More cached statements than the default 128: multi-row inserts (WriteTx.insert_rows)
    # have one statement text per row count.
    return sqlite3.connect(
        target, isolation_level=None, uri=target.startswith("file:"), cached_statements=512
    )


def _configure(conn: sqlite3.Connection, path: str) -> None:
    conn.row_factory = sqlite3.Row
    for pragma in PRAGMAS:
        if "journal_mode" in pragma and _is_memory(path):
            continue
        conn.execute(pragma)


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


class _Writer:
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

    def stop(self) -> None:
        """End the thread once the jobs queued so far are done."""
        self.jobs.put(None)
        self.thread.join()

    def open(self) -> None:
        conn = _connect(self.path)
        _configure(conn, self.path)
        self.conn = conn

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


class Database:
    """One SQLite file (or an in-memory database) with the write path and a reader."""

    def __init__(self, path: str, writer: _Writer, reader: aiosqlite.Connection | None) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader  # None for in-memory databases: the writer connection reads
        self._inline: sqlite3.Connection | None = None  # fetchone_inline, on the loop's thread
        self._closed = False
        # The scheduled hand-over of queued writes to the writer thread, its loop and time.
        self._wake: asyncio.Handle | None = None
        self._wake_loop: asyncio.AbstractEventLoop | None = None
        self._wake_due = 0.0
        # Writes merged by their caller and not queued yet (``defer``), queued before any other.
        self._deferred: list[Callable[[], None]] = []

    @property
    def in_memory(self) -> bool:
        return _is_memory(self.path)

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
        if _is_memory(location):
            target = f"file:fabro-memory-{os.getpid()}-{next(_memory_databases)}"
            target += "?mode=memory&cache=shared"
        else:
            _create_private(location)
        writer = _Writer(target)
        db = cls(location, writer, None)
        try:
            await db._in_writer(writer.open)
            await db._in_writer(db._migrate)
            if not _is_memory(location):
                reader = await aiosqlite.connect(location, isolation_level=None)
                db._reader = reader
                reader.row_factory = sqlite3.Row
                for pragma in PRAGMAS:
                    await reader.execute(pragma)
            db._inline = _inline_connection(target)
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
        """Apply pending migrations, each in its own transaction; returns the new version."""
        conn = self._writer.conn
        assert conn is not None
        current = int(conn.execute("PRAGMA user_version").fetchone()[0])
        for version, sql in MIGRATIONS:
            if version <= current:
                continue

            def apply(tx: WriteTx, sql: str = sql, version: int = version) -> None:
                for statement in _split_statements(sql):
                    tx.execute(statement)
                tx.execute(f"PRAGMA user_version = {version}")

            self._writer.transaction(apply)
            log.info("database %s migrated to version %d", self.path, version)
            current = version
        return current

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
        future: asyncio.Future[T] = loop.create_future()
        self._writer.queue.append(_Write(fn, future, loop, failed))
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
        """Have the queued writes committed now (on the event loop's next turn)."""
        self._schedule_wake(asyncio.get_running_loop(), 0.0)

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
            await self._in_writer(self._writer.close)
        finally:
            self._writer.stop()
            if self._inline is not None:
                with contextlib.suppress(sqlite3.ProgrammingError):  # closed from another thread
                    self._inline.close()
                self._inline = None
            if self._reader is not None:
                await self._reader.close()


def _create_private(location: str) -> None:
    """The database's folder and file, owner-only: SQLite gives its -wal and -shm the
    database file's mode. An existing database is made private too (see filemodes.make_private)."""
    filemodes.ensure_private_dir(Path(location).parent)
    if not filemodes.create_private_file(location):
        for suffix in ("", "-wal", "-shm"):
            filemodes.make_private(location + suffix)


def _inline_connection(path: str) -> sqlite3.Connection:
    """The connection of ``fetchone_inline``: read-only, never waits for a lock, and usable
    only from the thread that opened it (the event loop's)."""
    conn = _connect(path)
    _configure(conn, path)
    conn.execute("PRAGMA busy_timeout = 0")
    conn.execute("PRAGMA query_only = ON")
    if _is_memory(path):
        conn.execute("PRAGMA read_uncommitted = ON")  # no shared-cache table locks
    return conn


def _split_statements(sql: str) -> list[str]:
    """Split a migration file into statements (our files have no `;` inside literals)."""
    statements = []
    buffer: list[str] = []
    for line in sql.splitlines():
        stripped = line.strip()
        if stripped.startswith("--"):
            continue
        buffer.append(line)
        if stripped.endswith(";"):
            statement = "\n".join(buffer).strip()
            if sqlite3.complete_statement(statement):
                statements.append(statement)
                buffer = []
    if "\n".join(buffer).strip():
        statements.append("\n".join(buffer).strip())
    return statements
