"""SQLite connections: the pragmas every connection sets, and the database file's modes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fabro import filemodes

BUSY_TIMEOUT_MS = 5000
PRAGMAS = (
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
)

Row = sqlite3.Row


def is_memory(path: str) -> bool:
    return path == ":memory:" or (path.startswith("file:") and "mode=memory" in path)


def connect(target: str) -> sqlite3.Connection:
    """A connection to ``target`` with autocommit off the driver's hands and rows by name."""
    # More cached statements than the default 128: multi-row inserts (WriteTx.insert_rows)
    # have one statement text per row count.
    conn = sqlite3.connect(
        target, isolation_level=None, uri=target.startswith("file:"), cached_statements=512
    )
    configure(conn, target)
    return conn


def configure(conn: sqlite3.Connection, path: str) -> None:
    conn.row_factory = sqlite3.Row
    for pragma in PRAGMAS:
        if "journal_mode" in pragma and is_memory(path):
            continue
        conn.execute(pragma)


def create_private(location: str) -> None:
    """The database's folder and file, owner-only: SQLite gives its -wal and -shm the
    database file's mode. An existing database is made private too (see filemodes.make_private)."""
    filemodes.ensure_private_dir(Path(location).parent)
    if not filemodes.create_private_file(location):
        for suffix in ("", "-wal", "-shm"):
            filemodes.make_private(location + suffix)


def inline_connection(path: str) -> sqlite3.Connection:
    """The connection of ``fetchone_inline``: read-only, never waits for a lock, and usable
    only from the thread that opened it (the event loop's)."""
    conn = connect(path)
    conn.execute("PRAGMA busy_timeout = 0")
    conn.execute("PRAGMA query_only = ON")
    if is_memory(path):
        conn.execute("PRAGMA read_uncommitted = ON")  # no shared-cache table locks
    return conn
