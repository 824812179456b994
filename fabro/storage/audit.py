"""The audit log (schema version 9): who changed what, who signed in, who was refused.

Records are appended, never changed: the database refuses UPDATE and DELETE
(migrations/0009_audit_log.sql), and each record is a link of a hash chain made as the
receipts' is (fabro/governance/receipts.py: the chain's id is the record's request id, its
entry kind ``audit``), so whoever got around the triggers is found by ``verify``.

``AuditLog.append`` queues the record on the single writer without waiting for it: a request
never waits for its own audit record, and records share commits with other writes. The price
is that a crash may lose the records of the last moments before it (never a change without
its record being queued first: the record is queued as the response leaves).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict, dataclass
from typing import Any

from fabro.governance.receipts import (
    GENESIS,
    ChainEntry,
    Verifier,
    VerifyReport,
    canonical,
    entry_hash,
)
from fabro.storage.connection import Row
from fabro.storage.db import Database
from fabro.storage.filters import conditions
from fabro.storage.records import Page
from fabro.storage.writer import WriteTx

log = logging.getLogger(__name__)

ENTRY = "audit"  # the chain's entry kind of every audit record
# How long a record may wait for other writes to share its commit: the log is not read back
# by the request that wrote it, so it may as well ride along with the next commit.
WITHIN_S = 0.05
VERIFY_PAGE = 2000  # records read at a time when verifying (bounded memory)


@dataclass(frozen=True)
class AuditRecord:
    """One audited request: when, who (None: not authenticated) with which role, what it
    tried on what, how it ended, its request id and where it came from."""

    at: str
    principal: str | None
    role: str | None  # viewer, operator, admin; None without a principal or a role
    action: str  # the operationId, or the web UI's action (ui.signin.link, ui.signout, ...)
    method: str
    target: str  # the path
    status: int
    result: str  # ok (< 400), refused (401, 403) or failed
    request_id: str
    client: str | None  # the client's address
    seq: int = 0  # its place in the chain, once stored


@dataclass(frozen=True)
class AuditFilter:
    """Which records a list covers: every condition given must hold."""

    principal: str | None = None
    action: str | None = None
    result: str | None = None
    since: str | None = None  # at or after (fabro's timestamp text)
    until: str | None = None  # before


def _body(record: AuditRecord) -> dict[str, Any]:
    body = asdict(record)
    del body["seq"], body["request_id"]  # the chain's own columns
    return body


def _append(tx: WriteTx, record: AuditRecord) -> None:
    # The chain's head: the last row of the rowid tree. Not cached: a write rolled back with
    # its group (writer.py) would leave a cached head wrong.
    head = tx.fetchone("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
    seq, prev_hash = (int(head[0]) + 1, str(head[1])) if head is not None else (1, GENESIS)
    body = _body(record)
    digest = entry_hash(prev_hash, seq, record.request_id, ENTRY, body)
    tx.execute(
        "INSERT INTO audit_log (seq, request_id, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?)",
        [seq, record.request_id, canonical(body), prev_hash, digest],
    )


def _record(row: Row) -> AuditRecord:
    body: dict[str, Any] = json.loads(row["body"])
    return AuditRecord(
        at=body["at"],
        principal=body["principal"],
        role=body["role"],
        action=body["action"],
        method=body["method"],
        target=body["target"],
        status=body["status"],
        result=body["result"],
        request_id=row["request_id"],
        client=body["client"],
        seq=row["seq"],
    )


def _conditions(match: AuditFilter) -> tuple[str, list[Any]]:
    parts, params = conditions(
        (
            ("principal = ?", match.principal),
            ("action = ?", match.action),
            ("result = ?", match.result),
            ("at >= ?", match.since),
            ("at < ?", match.until),
        )
    )
    return (" WHERE " + " AND ".join(parts)) if parts else "", params


def _logged(future: asyncio.Future[None]) -> None:
    """The outcome of a queued record, which nobody waits for: a failure is logged."""
    if future.cancelled():
        return
    error = future.exception()
    if error is not None:
        log.warning("an audit record was not stored: %s", error)


class AuditLog:
    """Appending audit records and reading them back, in one SQLite database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def append(self, record: AuditRecord) -> None:
        """Queue ``record`` on the writer; returns at once (see the module docstring)."""
        try:
            future = self.db.submit(lambda tx: _append(tx, record), within_s=WITHIN_S)
        except RuntimeError as error:  # the database closed under a late request
            log.warning("an audit record was not stored: %s", error)
            return
        future.add_done_callback(_logged)

    async def write(self, record: AuditRecord) -> None:
        """Append ``record`` and wait for its commit (tests, and callers that must know)."""
        await self.db.write(lambda tx: _append(tx, record))

    async def list(self, match: AuditFilter, *, limit: int, offset: int) -> Page[AuditRecord]:
        """The records ``match`` covers, newest first."""
        where, params = _conditions(match)
        rows = await self.db.fetchall(
            f"SELECT seq, request_id, body FROM audit_log{where}"
            " ORDER BY seq DESC LIMIT ? OFFSET ?",
            [*params, limit + 1, offset],
        )
        return Page([_record(row) for row in rows[:limit]], has_more=len(rows) > limit)

    async def verify(self) -> VerifyReport:
        """Check the whole chain, a page at a time, hashing off the event loop."""
        verifier = Verifier()
        after = 0
        while not verifier.failed:
            rows = await self.db.fetchall(
                "SELECT seq, request_id, body, prev_hash, hash FROM audit_log"
                " WHERE seq > ? ORDER BY seq LIMIT ?",
                [after, VERIFY_PAGE],
            )
            if not rows:
                break
            page = [
                ChainEntry(
                    int(row["seq"]),
                    str(row["request_id"]),
                    ENTRY,
                    str(row["body"]),
                    str(row["prev_hash"]),
                    str(row["hash"]),
                )
                for row in rows
            ]
            await asyncio.to_thread(_feed, verifier, page)
            after = page[-1].seq
        return verifier.report()


def _feed(verifier: Verifier, page: list[ChainEntry]) -> None:
    for item in page:
        verifier.feed(item)
        if verifier.failed:
            return
