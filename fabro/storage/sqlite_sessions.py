"""The ``SessionStore`` over one SQLite ``Database``: chat sessions beside the runs."""

from __future__ import annotations

from typing import Any

from fabro.storage import sessions
from fabro.storage.db import Database
from fabro.storage.sessions import (
    SessionEventRecord,
    SessionListing,
    SessionRecord,
    SessionTurnRecord,
)
from fabro.storage.writer import WriteTx


class SqliteSessionStore:
    """Chat sessions, their turns and events in one SQLite database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ---- writes ----

    async def create_session(self, session: SessionRecord, first_turn: str) -> None:
        def transaction(tx: WriteTx) -> None:
            sessions.insert_session(tx, session)
            sessions.add_turn(tx, session.id, "user", first_turn, session.created_at)

        await self.db.write(transaction)

    async def add_session_turn(
        self, session_id: str, kind: str, content: str, ts: str
    ) -> SessionTurnRecord:
        return await self.db.write(lambda tx: sessions.add_turn(tx, session_id, kind, content, ts))

    async def append_session_event(
        self, session_id: str, event: str, data: dict[str, Any], ts: str
    ) -> SessionEventRecord:
        return await self.db.write(
            lambda tx: sessions.append_event(tx, session_id, event, data, ts)
        )

    async def end_reply(self, session_id: str, text: str, ts: str) -> list[SessionEventRecord]:
        def transaction(tx: WriteTx) -> list[SessionEventRecord]:
            turn = sessions.add_turn(tx, session_id, "assistant", text, ts)
            return [
                sessions.append_event(tx, session_id, "assistant_turn", turn.to_json(), ts),
                sessions.append_event(tx, session_id, "done", {}, ts),
            ]

        return await self.db.write(transaction)

    # ---- reads for the API ----

    async def get_session(self, session_id: str) -> SessionRecord | None:
        return await sessions.get_session(self.db, session_id)

    async def list_sessions(self, *, limit: int, offset: int) -> list[SessionListing]:
        return await sessions.list_sessions(self.db, limit=limit, offset=offset)

    async def list_session_turns(self, session_id: str) -> list[SessionTurnRecord]:
        return await sessions.list_turns(self.db, session_id)

    async def session_events_after(
        self, session_id: str, after: int, *, limit: int
    ) -> list[SessionEventRecord]:
        return await sessions.events_after(self.db, session_id, after, limit=limit)
