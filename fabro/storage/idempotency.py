"""Idempotent requests (schema version 8): an Idempotency-Key's claim and the response it
replays, for the POSTs that create or act (fabro/api/idempotency.py says when each is used)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from fabro.storage.connection import Row
from fabro.storage.db import Database
from fabro.storage.writer import WriteTx

# Expired rows deleted by one claim: more than the one row a claim adds, so the table stays at
# about one window's keys, and no claim does unbounded work.
PRUNE_BATCH = 16


@dataclass(frozen=True)
class StoredResponse:
    """What a replay answers: the first response's status, the headers that matter, its body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True)
class IdempotentRequest:
    """A claimed key: the request it was first used for and, once it succeeded, its response."""

    principal: str
    key: str
    request_hash: str
    created_at: str
    response: StoredResponse | None  # None while the first request is still running


class IdempotentRequests:
    """Keys and their responses in one SQLite database (timestamps: fabro's sortable UTC text)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim(
        self, principal: str, key: str, request_hash: str, now: str, not_before: str
    ) -> IdempotentRequest | None:
        """Claim ``key`` for a request about to run: None when claimed, else the live request
        that holds it (a key first used before ``not_before`` is forgotten and claimed anew)."""

        def transaction(tx: WriteTx) -> IdempotentRequest | None:
            tx.execute(
                "DELETE FROM idempotent_requests WHERE rowid IN (SELECT rowid FROM"
                " idempotent_requests WHERE created_at < ? ORDER BY created_at LIMIT ?)",
                [not_before, PRUNE_BATCH],
            )
            tx.execute(
                "DELETE FROM idempotent_requests WHERE principal = ? AND key = ?"
                " AND created_at < ?",
                [principal, key, not_before],
            )
            inserted = tx.execute(
                "INSERT INTO idempotent_requests (principal, key, request_hash, state, created_at)"
                " VALUES (?, ?, ?, 'pending', ?) ON CONFLICT (principal, key) DO NOTHING",
                [principal, key, request_hash, now],
            )
            if inserted:
                return None
            row = tx.fetchone(_SELECT + " WHERE principal = ? AND key = ?", [principal, key])
            assert row is not None  # the conflicting row, in this same transaction
            return _request(row)

        return await self.db.write(transaction)

    async def complete(self, principal: str, key: str, response: StoredResponse) -> None:
        """Store the response of the request that claimed ``key``."""
        headers = json.dumps([list(pair) for pair in response.headers])
        await self.db.write(
            lambda tx: tx.execute(
                "UPDATE idempotent_requests SET state = 'done', status = ?, headers = ?, body = ?"
                " WHERE principal = ? AND key = ? AND state = 'pending'",
                [response.status, headers, response.body, principal, key],
            )
        )

    async def release(self, principal: str, key: str) -> None:
        """Forget a claim whose request failed: the key may be used again."""
        await self.db.write(
            lambda tx: tx.execute(
                "DELETE FROM idempotent_requests"
                " WHERE principal = ? AND key = ? AND state = 'pending'",
                [principal, key],
            )
        )

    async def release_pending(self) -> int:
        """At startup: forget the claims of requests a crash interrupted; how many."""
        return await self.db.write(
            lambda tx: tx.execute("DELETE FROM idempotent_requests WHERE state = 'pending'")
        )

    async def find(self, principal: str, key: str) -> IdempotentRequest | None:
        row = await self.db.fetchone(_SELECT + " WHERE principal = ? AND key = ?", [principal, key])
        return None if row is None else _request(row)


_SELECT = (
    "SELECT principal, key, request_hash, created_at, state, status, headers, body"
    " FROM idempotent_requests"
)


def _request(row: Row) -> IdempotentRequest:
    response = None
    if row["state"] == "done":
        pairs = json.loads(row["headers"])
        headers = tuple((str(name), str(value)) for name, value in pairs)
        response = StoredResponse(int(row["status"]), headers, bytes(row["body"] or b""))
    return IdempotentRequest(
        row["principal"], row["key"], row["request_hash"], row["created_at"], response
    )
