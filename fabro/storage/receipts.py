"""Receipts: one per action a run disposed of, kept as append-only, hash-chained entries.

A receipt is its ``began`` entry (what was about to be done, and the policy's decision),
written in the same transaction as the action's start, and its ``ended`` entry (how it
ended) once it is over; a refused action gets both in one write. The writes are ``Write``
values the run recorder commits with the rest of a stage's start (fabro/storage/store.py).
The database refuses to change or delete an entry (migrations/0007_receipts.sql); the chain
(fabro/governance/receipts.py) shows whoever got around that.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

from ulid import ULID

from fabro.governance.actions import ACTION_KINDS, OUTCOMES, ActionKind, Outcome, Verdict
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
from fabro.storage.store import Write
from fabro.storage.writer import WriteTx

# The longest action text a receipt keeps (the rest is cut, and the cut says how much): a
# receipt says what was done, the stage's own files keep the whole of it.
MAX_ACTION_CHARS = 4096
# Entries read at a time when verifying (bounded memory, whatever the chain's length).
VERIFY_PAGE = 2000
# What a receipt may record as decided: a verdict's label, or DEDUP (recovery found that a
# not-safe-to-repeat action had already run, and did not run it again).
DECISIONS = (*(verdict.label for verdict in Verdict), "DEDUP")
_DIGEST = re.compile(r"[0-9a-f]{64}")
_ENTRY_COLUMNS = "seq, receipt_id, entry, body, prev_hash, hash"


def new_receipt_id() -> str:
    """A new receipt id: a ULID, like run ids (sortable by creation time)."""
    return str(ULID())


@dataclass(frozen=True)
class ReceiptStart:
    """What a receipt's ``began`` entry records: the action about to be taken and why."""

    run_id: str
    stage_id: str
    attempt: int
    kind: ActionKind
    action: str  # redacted by the caller; cut to MAX_ACTION_CHARS here
    decision: str  # one of DECISIONS
    rule: str  # the deciding rule ("default": none matched; "": no policy configured)
    approver: str | None
    idempotency_key: str | None
    started_at: str
    id: str = field(default_factory=new_receipt_id)


@dataclass(frozen=True)
class ReceiptRecord:
    """A receipt as read back: its ``began`` entry, with its ``ended`` entry's fields (None
    while the action has not ended: after a crash in the middle of it, for ever)."""

    id: str
    seq: int  # the began entry's place in the chain
    run_id: str
    stage_id: str
    attempt: int
    kind: ActionKind
    action: str
    decision: str  # one of DECISIONS
    rule: str
    approver: str | None
    idempotency_key: str | None
    started_at: str
    outcome: Outcome | None = None
    exit_status: int | None = None
    result_digest: str | None = None
    ended_at: str | None = None


@dataclass(frozen=True)
class ReceiptFilter:
    """Which receipts a list covers: every condition given must hold."""

    run_id: str | None = None
    kind: str | None = None
    decision: str | None = None  # a verdict's label
    since: str | None = None  # started at or after (fabro's timestamp text)
    until: str | None = None  # started before


# ---- writes ----------------------------------------------------------------------------


def begin_receipt(start: ReceiptStart) -> Write[None]:
    """The write of a receipt's ``began`` entry."""
    body = _began_body(start)
    return lambda tx: _append(tx, start.id, "began", body)


def end_receipt(
    receipt_id: str,
    outcome: Outcome,
    exit_status: int | None,
    result_digest: str | None,
    ended_at: str,
) -> Write[None]:
    """The write of a receipt's ``ended`` entry (a receipt ends once; it must have begun)."""
    body = _ended_body(outcome, exit_status, result_digest, ended_at)

    def write(tx: WriteTx) -> None:
        began = tx.fetchone(
            "SELECT 1 FROM receipt_entries WHERE receipt_id = ? AND entry = 'began'", [receipt_id]
        )
        if began is None:
            raise ValueError(f"receipt {receipt_id} has not begun")
        _append(tx, receipt_id, "ended", body)

    return write


def refused_receipt(start: ReceiptStart, ended_at: str) -> Write[None]:
    """A refused action's receipt, begun and ended in one write."""
    began = _began_body(start)
    ended = _ended_body("refused", None, None, ended_at)

    def write(tx: WriteTx) -> None:
        _append(tx, start.id, "began", began)
        _append(tx, start.id, "ended", ended)

    return write


def _began_body(start: ReceiptStart) -> dict[str, Any]:
    if start.kind not in ACTION_KINDS:
        raise ValueError(f"unknown action kind {start.kind!r}")
    if start.decision not in DECISIONS:
        raise ValueError(f"unknown decision {start.decision!r}")
    return {
        "run_id": start.run_id,
        "stage_id": start.stage_id,
        "attempt": start.attempt,
        "kind": start.kind,
        "action": cut_action(start.action),
        "decision": start.decision,
        "rule": start.rule,
        "approver": start.approver,
        "idempotency_key": start.idempotency_key,
        "started_at": start.started_at,
    }


def _ended_body(
    outcome: Outcome, exit_status: int | None, result_digest: str | None, ended_at: str
) -> dict[str, Any]:
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    if result_digest is not None and not _DIGEST.fullmatch(result_digest):
        raise ValueError("a result digest is a hex SHA-256 (64 lowercase hex digits)")
    return {
        "outcome": outcome,
        "exit_status": exit_status,
        "result_digest": result_digest,
        "ended_at": ended_at,
    }


def cut_action(action: str) -> str:
    """``action`` cut to MAX_ACTION_CHARS, saying how much was cut; a lone surrogate (which
    a model's tool call may carry, and UTF-8 cannot) becomes `?`."""
    action = action.encode("utf-8", "replace").decode("utf-8")
    if len(action) <= MAX_ACTION_CHARS:
        return action
    cut = len(action) - MAX_ACTION_CHARS
    return f"{action[:MAX_ACTION_CHARS]}… [{cut} more characters]"


def _append(tx: WriteTx, receipt_id: str, entry: str, body: dict[str, Any]) -> None:
    # The chain's head: the last row of the rowid tree, a single descent. Not cached: a write
    # rolled back with its group (writer.py) would leave a cached head wrong.
    head = tx.fetchone("SELECT seq, hash FROM receipt_entries ORDER BY seq DESC LIMIT 1")
    seq, prev_hash = (int(head[0]) + 1, str(head[1])) if head is not None else (1, GENESIS)
    digest = entry_hash(prev_hash, seq, receipt_id, entry, body)
    tx.execute(
        "INSERT INTO receipt_entries (seq, receipt_id, entry, body, prev_hash, hash)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [seq, receipt_id, entry, canonical(body), prev_hash, digest],
    )


# ---- reads -----------------------------------------------------------------------------

# A receipt: its began entry, and the body of its ended entry if there is one.
_RECEIPTS = (
    "SELECT b.seq, b.receipt_id, b.body, e.body AS ended FROM receipt_entries AS b"
    " LEFT JOIN receipt_entries AS e ON e.receipt_id = b.receipt_id AND e.entry = 'ended'"
    " WHERE b.entry = 'began'"
)


def _receipt(row: Row) -> ReceiptRecord:
    began: dict[str, Any] = json.loads(row["body"])
    ended: dict[str, Any] = json.loads(row["ended"]) if row["ended"] else {}
    return ReceiptRecord(
        id=row["receipt_id"],
        seq=row["seq"],
        run_id=began["run_id"],
        stage_id=began["stage_id"],
        attempt=began["attempt"],
        kind=cast(ActionKind, began["kind"]),
        action=began["action"],
        decision=began["decision"],
        rule=began["rule"],
        approver=began["approver"],
        idempotency_key=began["idempotency_key"],
        started_at=began["started_at"],
        outcome=ended.get("outcome"),
        exit_status=ended.get("exit_status"),
        result_digest=ended.get("result_digest"),
        ended_at=ended.get("ended_at"),
    )


def _conditions(match: ReceiptFilter) -> tuple[str, list[Any]]:
    """The SQL conditions of ``match`` on the began entry ``b``, and their parameters."""
    parts, params = conditions(
        (
            ("b.run_id = ?", match.run_id),
            ("b.kind = ?", match.kind),
            ("b.decision = ?", match.decision),
            ("b.started_at >= ?", match.since),
            ("b.started_at < ?", match.until),
        )
    )
    return "".join(f" AND {sql}" for sql in parts), params


class Receipts:
    """Reading receipts and verifying their chain, in one SQLite database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, receipt_id: str) -> ReceiptRecord | None:
        row = await self.db.fetchone(f"{_RECEIPTS} AND b.receipt_id = ?", [receipt_id])
        return None if row is None else _receipt(row)

    async def list(self, match: ReceiptFilter, *, limit: int, offset: int) -> Page[ReceiptRecord]:
        """Receipts ``match`` covers, newest first."""
        where, params = _conditions(match)
        rows = await self.db.fetchall(
            f"{_RECEIPTS}{where} ORDER BY b.seq DESC LIMIT ? OFFSET ?",
            [*params, limit + 1, offset],
        )
        items = [_receipt(row) for row in rows[:limit]]
        return Page(items, has_more=len(rows) > limit)

    async def for_run(
        self, run_id: str, *, limit: int = -1, offset: int = 0
    ) -> builtins.list[ReceiptRecord]:
        """A run's receipts in the order its actions began (-1: all of them)."""
        rows = await self.db.fetchall(
            f"{_RECEIPTS} AND b.run_id = ? ORDER BY b.seq LIMIT ? OFFSET ?",
            [run_id, limit, offset],
        )
        return [_receipt(row) for row in rows]

    async def by_key(self, idempotency_key: str) -> ReceiptRecord | None:
        """The newest receipt of an action with this idempotency key that records a run of it
        or a refusal: not a DEDUP, which only records that an earlier run was not repeated
        (so a crash after a DEDUP finds that earlier run again, not the DEDUP)."""
        row = await self.db.fetchone(
            f"{_RECEIPTS} AND b.idempotency_key = ? AND b.decision != 'DEDUP'"
            " ORDER BY b.seq DESC LIMIT 1",
            [idempotency_key],
        )
        return None if row is None else _receipt(row)

    async def verify(self) -> VerifyReport:
        """Check the whole chain, a page at a time, hashing off the event loop."""
        verifier = Verifier()
        after = 0
        while not verifier.failed:
            rows = await self.db.fetchall(_ENTRIES_AFTER, [after, VERIFY_PAGE])
            if not rows:
                break
            page = [_chain_entry(row) for row in rows]
            await asyncio.to_thread(_feed, verifier, page)
            after = page[-1].seq
        return verifier.report()


_ENTRIES_AFTER = f"SELECT {_ENTRY_COLUMNS} FROM receipt_entries WHERE seq > ? ORDER BY seq LIMIT ?"


def _chain_entry(row: Row | tuple[Any, ...]) -> ChainEntry:
    seq, receipt_id, entry, body, prev_hash, digest = tuple(row)
    return ChainEntry(int(seq), str(receipt_id), str(entry), str(body), str(prev_hash), str(digest))


def _feed(verifier: Verifier, page: list[ChainEntry]) -> None:
    for item in page:
        verifier.feed(item)
        if verifier.failed:
            return


class NoReceipts(Exception):
    """The database file is missing, unreadable, or older than receipts."""


def verify_file(path: Path) -> VerifyReport:
    """Check the chain of the database file at ``path`` over a read-only connection of its
    own (a stopped server's data directory; a running server's works too)."""
    if not path.is_file():
        raise NoReceipts(f"no database at {path}")
    conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)
    try:
        verifier = Verifier()
        for item in _entries(conn):
            verifier.feed(item)
            if verifier.failed:
                break
        return verifier.report()
    except sqlite3.DatabaseError as exc:
        if "no such table" in str(exc):
            raise NoReceipts(f"{path} has no receipts (its schema is older)") from None
        raise NoReceipts(f"cannot read {path}: {exc}") from None
    finally:
        conn.close()


def _entries(conn: sqlite3.Connection) -> Iterator[ChainEntry]:
    after = 0
    while True:
        rows = conn.execute(_ENTRIES_AFTER, [after, VERIFY_PAGE]).fetchall()
        if not rows:
            return
        for row in rows:
            yield _chain_entry(row)
        after = int(rows[-1][0])
