"""The protocol of chat sessions' storage (api.md §11), apart from the runs' ``Store``:
sessions share no state with runs. ``SqliteSessionStore`` (fabro.storage.sqlite_sessions)
is the only implementation."""

from __future__ import annotations

from typing import Any, Protocol

from fabro.storage.sessions import (
    SessionEventRecord,
    SessionListing,
    SessionRecord,
    SessionTurnRecord,
)


class SessionStore(Protocol):
    """Chat sessions, their turns and their events (api.md §11). Every method is one
    transaction; event sequence numbers start at 0."""

    # ---- writes ----

    async def create_session(self, session: SessionRecord, first_turn: str) -> None:
        """Store ``session`` with its first user turn."""
        ...

    async def add_session_turn(
        self, session_id: str, kind: str, content: str, ts: str
    ) -> SessionTurnRecord:
        """Append a turn (the session's ``updated_at`` moves to ``ts``)."""
        ...

    async def append_session_event(
        self, session_id: str, event: str, data: dict[str, Any], ts: str
    ) -> SessionEventRecord: ...

    async def end_reply(self, session_id: str, text: str, ts: str) -> list[SessionEventRecord]:
        """Store the assistant's turn with its ``assistant_turn`` and ``done`` events."""
        ...

    # ---- reads for the API ----

    async def get_session(self, session_id: str) -> SessionRecord | None: ...

    async def list_sessions(self, *, limit: int, offset: int) -> list[SessionListing]:
        """Sessions, newest ``updated_at`` first, each with its last turn's content."""
        ...

    async def list_session_turns(self, session_id: str) -> list[SessionTurnRecord]: ...

    async def session_events_after(
        self, session_id: str, after: int, *, limit: int
    ) -> list[SessionEventRecord]:
        """Stored events with ``seq > after`` (-1: all), in order."""
        ...
