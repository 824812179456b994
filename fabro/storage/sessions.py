"""Chat sessions, their turns and their events (api.md §11): all SQL for them lives here.

Writes are plain functions of a ``WriteTx`` for ``Database.write``; reads are async functions of
the ``Database``. Session event sequence numbers start at 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fabro import jsontext
from fabro.storage.connection import Row
from fabro.storage.db import Database
from fabro.storage.writer import WriteTx


@dataclass(frozen=True)
class SessionRecord:
    id: str
    title: str
    model: str
    created_at: str
    updated_at: str
    system: str | None = None
    created_by: str | None = None


@dataclass(frozen=True)
class SessionTurnRecord:
    n: int
    kind: str  # user | assistant | tool
    content: str
    created_at: str

    def to_json(self) -> dict[str, Any]:
        """The SessionTurn of api.md §11."""
        return {"kind": self.kind, "content": self.content, "created_at": self.created_at}


@dataclass(frozen=True)
class SessionEventRecord:
    session_id: str
    seq: int
    event: str
    data: str  # the JSON text sent as the frame's data
    created_at: str


@dataclass(frozen=True)
class SessionListing:
    session: SessionRecord
    last_turn: str | None  # the last turn's content


_COLUMNS = ("id", "title", "model", "system", "created_by", "created_at", "updated_at")


def _session(row: Row) -> SessionRecord:
    return SessionRecord(**{name: row[name] for name in _COLUMNS})


# ---- writes ----------------------------------------------------------------------------------


def insert_session(tx: WriteTx, session: SessionRecord) -> None:
    tx.execute(
        f"INSERT INTO sessions ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})",
        [getattr(session, name) for name in _COLUMNS],
    )


def add_turn(tx: WriteTx, session_id: str, kind: str, content: str, ts: str) -> SessionTurnRecord:
    """Append a turn and bump the session's `updated_at`."""
    row = tx.fetchone(
        "SELECT COALESCE(MAX(n), 0) FROM session_turns WHERE session_id = ?", [session_id]
    )
    n = (int(row[0]) if row else 0) + 1
    tx.execute(
        "INSERT INTO session_turns (session_id, n, kind, content, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [session_id, n, kind, content, ts],
    )
    tx.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", [ts, session_id])
    return SessionTurnRecord(n, kind, content, ts)


def append_event(
    tx: WriteTx, session_id: str, event: str, data: dict[str, Any], ts: str
) -> SessionEventRecord:
    """Store one event with the next per-session sequence number (0 for the first)."""
    row = tx.fetchone(
        "SELECT COALESCE(MAX(seq), -1) FROM session_events WHERE session_id = ?", [session_id]
    )
    seq = (int(row[0]) if row else -1) + 1
    text = jsontext.dumps(data)
    tx.execute(
        "INSERT INTO session_events (session_id, seq, event, data, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [session_id, seq, event, text, ts],
    )
    return SessionEventRecord(session_id, seq, event, text, ts)


# ---- reads -----------------------------------------------------------------------------------


async def get_session(db: Database, session_id: str) -> SessionRecord | None:
    row = await db.fetchone("SELECT * FROM sessions WHERE id = ?", [session_id])
    return _session(row) if row else None


async def list_sessions(db: Database, *, limit: int, offset: int) -> list[SessionListing]:
    """Sessions, newest `updated_at` first, each with its last turn's content."""
    rows = await db.fetchall(
        "SELECT s.*, (SELECT t.content FROM session_turns t WHERE t.session_id = s.id "
        "ORDER BY t.n DESC LIMIT 1) AS last_turn "
        "FROM sessions s ORDER BY s.updated_at DESC, s.id DESC LIMIT ? OFFSET ?",
        [limit, offset],
    )
    return [SessionListing(_session(row), row["last_turn"]) for row in rows]


async def list_turns(db: Database, session_id: str) -> list[SessionTurnRecord]:
    rows = await db.fetchall(
        "SELECT n, kind, content, created_at FROM session_turns WHERE session_id = ? ORDER BY n",
        [session_id],
    )
    return [
        SessionTurnRecord(row["n"], row["kind"], row["content"], row["created_at"]) for row in rows
    ]


async def events_after(
    db: Database, session_id: str, after: int, *, limit: int
) -> list[SessionEventRecord]:
    """Stored events with ``seq > after`` (``after`` = -1 for all), in order."""
    rows = await db.fetchall(
        "SELECT session_id, seq, event, data, created_at FROM session_events "
        "WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        [session_id, after, limit],
    )
    return [
        SessionEventRecord(
            row["session_id"], row["seq"], row["event"], row["data"], row["created_at"]
        )
        for row in rows
    ]
