"""SQLite connections, pragmas, migrations and the single write path.

Two aiosqlite connections per database: one for reads, one for writes. Every write goes
through ``Database.transaction()``: an ``asyncio.Lock`` (one writer in this process) and
``BEGIN IMMEDIATE`` (the write lock is taken up front, so a transaction never fails half way
with SQLITE_BUSY). WAL lets the read connection work while a write is in progress.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
# Another process may hold the write lock longer than the busy timeout (e.g. a second server
# started on the same data dir by mistake); BEGIN IMMEDIATE is retried rather than letting
# "database is locked" reach a user.
BEGIN_RETRIES = 20

Row = sqlite3.Row


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


async def _connect(path: str) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None, uri=path.startswith("file:"))
    conn.row_factory = sqlite3.Row
    await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if not path.startswith(":memory:") and "mode=memory" not in path:
        await conn.execute("PRAGMA journal_mode = WAL")
    await conn.execute("PRAGMA synchronous = NORMAL")
    await conn.execute("PRAGMA foreign_keys = ON")
    return conn


class Transaction:
    """The write connection inside one BEGIN IMMEDIATE ... COMMIT."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of changed rows."""
        cursor = await self._conn.execute(sql, params)
        changed = cursor.rowcount
        await cursor.close()
        return changed

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._conn.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        async with self._conn.execute(sql, params) as cursor:
            row: Row | None = await cursor.fetchone()
            return row

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async with self._conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())


class Database:
    """One SQLite file (or an in-memory database) with a read and a write connection."""

    def __init__(self, path: str, reader: aiosqlite.Connection, writer: aiosqlite.Connection):
        self.path = path
        self._reader = reader
        self._writer = writer
        self._write_lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def open(cls, path: Path | str) -> Database:
        """Open (creating it if needed) and migrate the database at ``path``.

        ``":memory:"`` gives a private in-memory database (one connection serves reads and
        writes, since in-memory databases are per connection); used by benchmarks.
        """
        location = str(path)
        if location == ":memory:":
            conn = await _connect(location)
            db = cls(location, conn, conn)
        else:
            Path(location).parent.mkdir(parents=True, exist_ok=True)
            writer = await _connect(location)
            try:
                reader = await _connect(location)
            except BaseException:
                await writer.close()
                raise
            db = cls(location, reader, writer)
        try:
            await db.migrate()
        except BaseException:
            await db.close()
            raise
        return db

    async def migrate(self) -> int:
        """Apply pending migrations, each in its own transaction; returns the new version."""
        async with self._write_lock:
            current = await self._user_version()
            for version, sql in MIGRATIONS:
                if version <= current:
                    continue
                await self._begin()
                try:
                    for statement in _split_statements(sql):
                        await self._writer.execute(statement)
                    await self._writer.execute(f"PRAGMA user_version = {version}")
                    await self._writer.execute("COMMIT")
                except BaseException:
                    await self._writer.execute("ROLLBACK")
                    raise
                log.info("database %s migrated to version %d", self.path, version)
                current = version
            return current

    async def _user_version(self) -> int:
        async with self._writer.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def _begin(self) -> None:
        delay = 0.05
        for attempt in range(BEGIN_RETRIES):
            try:
                await self._writer.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if attempt == BEGIN_RETRIES - 1:
                    raise
                log.warning("database busy (held by another process); retrying")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """The single write path: lock, BEGIN IMMEDIATE, then COMMIT or ROLLBACK."""
        if self._closed:
            raise RuntimeError("database is closed")
        async with self._write_lock:
            await self._begin()
            try:
                yield Transaction(self._writer)
            except BaseException:
                # Shield the rollback so a cancelled task still leaves the connection clean.
                await asyncio.shield(self._writer.execute("ROLLBACK"))
                raise
            else:
                await asyncio.shield(self._writer.execute("COMMIT"))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        async with self._reader.execute(sql, params) as cursor:
            row: Row | None = await cursor.fetchone()
            return row

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async with self._reader.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def close(self) -> None:
        """Wait for the write in progress, then close both connections. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        async with self._write_lock:
            await self._writer.close()
            if self._reader is not self._writer:
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
