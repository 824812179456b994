"""The schema's migrations: numbered SQL files tracked by ``PRAGMA user_version``."""

from __future__ import annotations

import logging
import sqlite3
from importlib import resources

from fabro.storage.writer import Writer, WriteTx

log = logging.getLogger(__name__)


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


def migrate(writer: Writer, name: str) -> int:
    """In the writer thread: apply pending migrations, each in its own transaction; returns
    the new version. ``name`` names the database in the log."""
    conn = writer.conn
    assert conn is not None
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    for version, sql in MIGRATIONS:
        if version <= current:
            continue

        def apply(tx: WriteTx, sql: str = sql, version: int = version) -> None:
            for statement in split_statements(sql):
                tx.execute(statement)
            tx.execute(f"PRAGMA user_version = {version}")

        writer.transaction(apply)
        log.info("database %s migrated to version %d", name, version)
        current = version
    return current


def split_statements(sql: str) -> list[str]:
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
