"""SQLite connections, pragmas, migrations and the single write path.

Writes: one dedicated writer thread owns the only write connection. A write transaction is
a plain function ``fn(tx)`` run by ``await db.write(fn)`` entirely inside that thread between
``BEGIN IMMEDIATE`` and ``COMMIT`` (``ROLLBACK`` if it raises). One thread means one writer
at a time, in submission order; one function per transaction means one thread hop per
commit, whatever it contains, and a transaction is never left half-done by a cancelled task.
``BEGIN IMMEDIATE`` takes SQLite's write lock up front, so a transaction never fails half way
with SQLITE_BUSY, and a busy database (another process) is waited for and retried.

Reads: an aiosqlite connection. WAL lets it read while a write is in progress; it sees the
last committed state.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
# Another process may hold the write lock longer than the busy timeout (e.g. a second server
# started on the same data dir by mistake); BEGIN IMMEDIATE is retried rather than letting
# "database is locked" reach a user.
BEGIN_RETRIES = 20

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
    return path == ":memory:"


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

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of changed rows."""
        return self._conn.execute(sql, params).rowcount

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row: Row | None = self._conn.execute(sql, params).fetchone()
        return row

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(self._conn.execute(sql, params).fetchall())


class _Writer:
    """The writer thread and its connection."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fabro-db-writer")
        self.conn: sqlite3.Connection | None = None

    def open(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None)
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
        try:
            result = fn(WriteTx(self.conn))
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        return result

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Database:
    """One SQLite file (or an in-memory database) with the write path and a reader."""

    def __init__(self, path: str, writer: _Writer, reader: aiosqlite.Connection | None) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader  # None for in-memory databases: the writer connection reads
        self._closed = False

    @classmethod
    async def open(cls, path: Path | str) -> Database:
        """Open (creating it if needed) and migrate the database at ``path``.

        ``":memory:"`` gives a private in-memory database (benchmarks): in-memory databases
        exist per connection, so the writer connection serves reads too.
        """
        location = str(path)
        if not _is_memory(location):
            Path(location).parent.mkdir(parents=True, exist_ok=True)
        writer = _Writer(location)
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
        except BaseException:
            await db.close()
            raise
        return db

    async def _in_writer(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer.executor, fn)

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
        """The single write path: run ``fn`` in one transaction in the writer thread."""
        if self._closed:
            raise RuntimeError("database is closed")
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._writer.executor, self._writer.transaction, fn)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # The transaction still finishes (committed or rolled back) in the writer thread;
            # wait for it so callers never race their own write.
            if not future.done():
                try:
                    await future
                except BaseException:
                    pass
            raise

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

    def _conn(self) -> sqlite3.Connection:
        assert self._writer.conn is not None
        return self._writer.conn

    async def close(self) -> None:
        """Finish queued writes, then close both connections. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._in_writer(self._writer.close)
        finally:
            self._writer.executor.shutdown(wait=True)
            if self._reader is not None:
                await self._reader.close()


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
