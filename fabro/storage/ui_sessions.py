"""The web UI's sign-in sessions and used sign-in links (schema version 6)."""

from __future__ import annotations

from dataclasses import dataclass

from fabro.storage.db import Database
from fabro.storage.writer import WriteTx


@dataclass(frozen=True)
class UiSession:
    """A signed-in browser: who, how it signed in, and until when."""

    id_hash: str
    login: str
    method: str  # link, token or mtls
    created_at: str
    expires_at: str


class UiSessions:
    """Sessions and links in one SQLite database (timestamps are fabro's sortable UTC text)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def open(self, session: UiSession) -> None:
        """Store a new session, and forget the sessions and links that have expired."""

        def transaction(tx: WriteTx) -> None:
            now = session.created_at
            tx.execute("DELETE FROM ui_sessions WHERE expires_at <= ?", [now])
            tx.execute("DELETE FROM ui_signin_links WHERE expires_at <= ?", [now])
            tx.execute(
                "INSERT INTO ui_sessions (id_hash, login, method, created_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [session.id_hash, session.login, session.method, now, session.expires_at],
            )

        await self.db.write(transaction)

    async def find(self, id_hash: str, now: str) -> UiSession | None:
        """The live session with this hash: not revoked, not expired."""
        row = await self.db.fetchone(
            "SELECT id_hash, login, method, created_at, expires_at FROM ui_sessions"
            " WHERE id_hash = ? AND revoked_at IS NULL AND expires_at > ?",
            [id_hash, now],
        )
        return None if row is None else UiSession(*row)

    async def revoke(self, id_hash: str, now: str) -> bool:
        """End a session; whether it was live."""
        changed = await self.db.write(
            lambda tx: tx.execute(
                "UPDATE ui_sessions SET revoked_at = ? WHERE id_hash = ? AND revoked_at IS NULL",
                [now, id_hash],
            )
        )
        return changed > 0

    async def use_link(self, jti: str, now: str, expires_at: str) -> bool:
        """Record that the link ``jti`` was used; False when it had been used before."""
        inserted = await self.db.write(
            lambda tx: tx.execute(
                "INSERT INTO ui_signin_links (jti, used_at, expires_at) VALUES (?, ?, ?)"
                " ON CONFLICT (jti) DO NOTHING",
                [jti, now, expires_at],
            )
        )
        return inserted > 0
