"""The webhook delivery queue (migrations/0010): deliveries queued from committed events,
claimed when due, and the log of each attempt with its backoff.

``dispatch`` is the one place events become deliveries: in one write transaction it reads the
committed events after the cursor, queues each matching one for every subscription that wants
it, and advances the cursor. A crash before the commit loses nothing (the cursor did not
move); a crash after it queues nothing twice (it did). ``record`` logs an attempt, schedules
the next one per the retry policy, and disables a subscription that keeps failing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ulid import ULID

from fabro.clock import format_ts
from fabro.storage.db import Database
from fabro.storage.writer import WriteTx
from fabro.webhooks.events import (
    RECEIPT_WRITTEN,
    VARIANTS,
    body_text,
    fields_of,
    receipt_event_id,
    run_event_data,
    run_event_id,
    run_event_type,
)
from fabro.webhooks.retry import RetryPolicy

# The most of a receiver's answer the delivery log keeps.
MAX_LOGGED_RESPONSE_CHARS = 1024
MAX_LOGGED_ERROR_CHARS = 300


def ts_of(unix_s: float) -> str:
    return format_ts(datetime.fromtimestamp(unix_s, UTC))


@dataclass(frozen=True)
class DueDelivery:
    """A delivery to attempt now, with what sending it takes."""

    id: str
    webhook_id: str
    url: str
    secret: str
    sealed: bool
    body: str
    attempts: int


@dataclass(frozen=True)
class AttemptResult:
    delivery_id: str
    ok: bool
    response_code: int | None
    response_body: str | None
    error: str | None
    latency_ms: int
    at_s: float


@dataclass(frozen=True)
class Dispatched:
    queued: int  # deliveries queued
    more: bool  # the batch was full: call again


class DeliveryQueue:
    """Due deliveries, their attempts, and dispatching events into deliveries."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock  # unix seconds

    async def due(self, limit: int, exclude: Sequence[str] = ()) -> list[DueDelivery]:
        """Deliveries of enabled subscriptions due now, the longest waiting first, but for
        ``exclude`` (those in flight)."""
        marks = ",".join("?" * len(exclude))
        rows = await self.db.fetchall(
            "SELECT d.id, d.webhook_id, w.url, w.secret, w.sealed, e.body, d.attempts"
            " FROM webhook_deliveries AS d JOIN webhooks AS w ON w.id = d.webhook_id"
            " JOIN webhook_events AS e ON e.id = d.event_id"
            " WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND w.enabled = 1"
            f" AND d.id NOT IN ({marks}) ORDER BY d.next_attempt_at LIMIT ?",
            [self.clock(), *exclude, limit],
        )
        return [DueDelivery(r[0], r[1], r[2], r[3], bool(r[4]), r[5], int(r[6])) for r in rows]

    async def next_due_s(self) -> float | None:
        """When the next pending delivery of an enabled subscription is due (unix seconds)."""
        row = await self.db.fetchone(
            "SELECT min(d.next_attempt_at) FROM webhook_deliveries AS d"
            " JOIN webhooks AS w ON w.id = d.webhook_id"
            " WHERE d.status = 'pending' AND w.enabled = 1"
        )
        return None if row is None or row[0] is None else float(row[0])

    async def record(self, result: AttemptResult, policy: RetryPolicy) -> None:
        """Log an attempt; schedule the next one or close the delivery; count the
        subscription's failing streak, disabling it when ``policy`` says so."""
        await self.db.write(lambda tx: _record(tx, result, policy))

    async def prune(self, before_s: float, limit: int = 500) -> int:
        """Delete up to ``limit`` finished deliveries created before ``before_s``, and the
        events no delivery refers to any more."""

        def write(tx: WriteTx) -> int:
            gone = tx.execute(
                "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries"
                " WHERE status != 'pending' AND created_s < ? LIMIT ?)",
                [before_s, limit],
            )
            tx.execute(
                "DELETE FROM webhook_events WHERE created_at < ? AND NOT EXISTS"
                " (SELECT 1 FROM webhook_deliveries AS d WHERE d.event_id = webhook_events.id)",
                [ts_of(before_s)],
            )
            return gone

        return await self.db.write(write)

    # ---- dispatching -------------------------------------------------------------------

    async def behind(self) -> bool:
        """Whether events or receipt entries were committed after the cursor (a read)."""
        row = await self.db.fetchone(
            "SELECT c.events_after < (SELECT coalesce(max(rowid), 0) FROM run_events)"
            " OR c.receipts_after < (SELECT coalesce(max(seq), 0) FROM receipt_entries)"
            " FROM webhook_cursor AS c WHERE c.id = 1"
        )
        return bool(row and row[0])

    async def dispatch(self, batch: int = 500) -> Dispatched:
        """Queue the deliveries of up to ``batch`` events and receipt entries after the
        cursor, and advance it, in one transaction."""
        now = self.clock()
        return await self.db.write(lambda tx: _Dispatch(tx, now).run(batch))


def queue_delivery(tx: WriteTx, webhook_id: str, event_id: str, now: float) -> str | None:
    """Queue ``event_id`` for ``webhook_id``, due now; its delivery id (None: already is)."""
    delivery_id = str(ULID())
    inserted = tx.execute(
        "INSERT OR IGNORE INTO webhook_deliveries (id, webhook_id, event_id, status,"
        " next_attempt_at, created_at, created_s, updated_at)"
        " VALUES (?, ?, ?, 'pending', ?, ?, ?, ?)",
        [delivery_id, webhook_id, event_id, now, ts_of(now), now, ts_of(now)],
    )
    return delivery_id if inserted else None


def _cut(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters]"


def _record(tx: WriteTx, result: AttemptResult, policy: RetryPolicy) -> None:
    row = tx.fetchone(
        "SELECT attempts, created_s, webhook_id FROM webhook_deliveries WHERE id = ?",
        [result.delivery_id],
    )
    if row is None:
        return  # deleted with its subscription while in flight
    attempts, created_s, webhook_id = int(row[0]) + 1, float(row[1]), str(row[2])
    at = ts_of(result.at_s)
    error = _cut(result.error, MAX_LOGGED_ERROR_CHARS)
    tx.execute(
        "INSERT OR REPLACE INTO webhook_attempts"
        " (delivery_id, n, at, response_code, latency_ms, error) VALUES (?, ?, ?, ?, ?, ?)",
        [result.delivery_id, attempts, at, result.response_code, result.latency_ms, error],
    )
    due = None if result.ok else policy.next_attempt(attempts, created_s, result.at_s)
    status = "succeeded" if result.ok else "pending" if due is not None else "failed"
    tx.execute(
        "UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?,"
        " response_code = ?, response_body = ?, error = ?, latency_ms = ?, updated_at = ?"
        " WHERE id = ?",
        [
            status,
            attempts,
            due,
            result.response_code,
            _cut(result.response_body, MAX_LOGGED_RESPONSE_CHARS),
            error,
            result.latency_ms,
            at,
            result.delivery_id,
        ],
    )
    if result.ok:
        tx.execute(
            "UPDATE webhooks SET failures_in_a_row = 0, failing_since = NULL WHERE id = ?",
            [webhook_id],
        )
        return
    tx.execute(
        "UPDATE webhooks SET failures_in_a_row = failures_in_a_row + 1,"
        " failing_since = coalesce(failing_since, ?) WHERE id = ?",
        [result.at_s, webhook_id],
    )
    hook = tx.fetchone(
        "SELECT failures_in_a_row, failing_since, enabled FROM webhooks WHERE id = ?",
        [webhook_id],
    )
    assert hook is not None
    failures, since = int(hook[0]), float(hook[1])
    if hook[2] and policy.disables(failures, since, result.at_s):
        reason = (
            f"Disabled after {failures} failed deliveries in a row since {ts_of(since)};"
            f" the last: {error or result.response_code}."
        )
        tx.execute(
            "UPDATE webhooks SET enabled = 0, disabled_reason = ?, updated_at = ? WHERE id = ?",
            [reason, at, webhook_id],
        )


@dataclass(frozen=True)
class _Hook:
    id: str
    types: frozenset[str]
    workflow: str | None
    labels: dict[str, str]
    after_event: int
    after_receipt: int

    def wants(self, kind: str, run: tuple[str | None, dict[str, str]] | None) -> bool:
        if kind not in self.types:
            return False
        if self.workflow is None and not self.labels:
            return True
        if run is None:
            return False
        workflow, labels = run
        if self.workflow is not None and workflow != self.workflow:
            return False
        return all(labels.get(key) == value for key, value in self.labels.items())


class _Dispatch:
    """One dispatching transaction (in the writer thread)."""

    def __init__(self, tx: WriteTx, now: float) -> None:
        self.tx = tx
        self.now = now
        self.queued = 0
        self._runs: dict[str, tuple[str | None, dict[str, str]] | None] = {}

    def run(self, batch: int) -> Dispatched:
        cursor = self.tx.fetchone(
            "SELECT events_after, receipts_after FROM webhook_cursor WHERE id = 1"
        )
        assert cursor is not None
        events_after, receipts_after = int(cursor[0]), int(cursor[1])
        hooks = [
            _Hook(r[0], frozenset(json.loads(r[1])), r[2], json.loads(r[3]), r[4], r[5])
            for r in self.tx.fetchall(
                "SELECT id, event_types, workflow, labels, after_event, after_receipt"
                " FROM webhooks WHERE enabled = 1"
            )
        ]
        more = False
        if hooks:
            events_after, full_e = self._events(hooks, events_after, batch)
            receipts_after, full_r = self._receipts(hooks, receipts_after, batch)
            more = full_e or full_r
        else:  # nobody listens: what happens now is no one's news later
            events_after = self._head("SELECT coalesce(max(rowid), 0) FROM run_events")
            receipts_after = self._head("SELECT coalesce(max(seq), 0) FROM receipt_entries")
        self.tx.execute(
            "UPDATE webhook_cursor SET events_after = ?, receipts_after = ? WHERE id = 1",
            [events_after, receipts_after],
        )
        return Dispatched(self.queued, more)

    def _head(self, sql: str) -> int:
        row = self.tx.fetchone(sql)
        return int(row[0]) if row else 0

    def _events(self, hooks: list[_Hook], after: int, batch: int) -> tuple[int, bool]:
        marks = ",".join("?" * len(VARIANTS))
        rows = self.tx.fetchall(
            "SELECT rowid, run_id, seq, ts, variant, payload FROM run_events"
            f" WHERE rowid > ? AND child_depth = 0 AND variant IN ({marks})"
            " ORDER BY rowid LIMIT ?",
            [after, *VARIANTS, batch],
        )
        for rowid, run_id, seq, ts, variant, payload_text in rows:
            fields = fields_of(variant, json.loads(payload_text))
            kind = run_event_type(variant, fields)
            if kind is None:
                continue
            wanting = [
                h for h in hooks if rowid > h.after_event and h.wants(kind, self._run(run_id))
            ]
            if wanting:
                event_id = run_event_id(run_id, seq)
                data = run_event_data(run_id, seq, variant, fields)
                self._queue(wanting, event_id, kind, ts, data)
        if len(rows) == batch:
            return int(rows[-1][0]), True
        # Every committed row up to the head was read (this transaction holds the writer).
        return self._head("SELECT coalesce(max(rowid), 0) FROM run_events"), False

    def _receipts(self, hooks: list[_Hook], after: int, batch: int) -> tuple[int, bool]:
        rows = self.tx.fetchall(
            "SELECT seq, receipt_id, entry, body FROM receipt_entries WHERE seq > ?"
            " ORDER BY seq LIMIT ?",
            [after, batch],
        )
        for seq, receipt_id, entry, body_text_ in rows:
            body = json.loads(body_text_)
            run_id = body.get("run_id") or self._receipt_run(receipt_id)
            run = None if run_id is None else self._run(run_id)
            wanting = [h for h in hooks if seq > h.after_receipt and h.wants(RECEIPT_WRITTEN, run)]
            if wanting:
                data = {**body, "receipt_id": receipt_id, "seq": seq, "entry": entry}
                data["run_id"] = run_id
                started = body.get("started_at") or body.get("ended_at") or ts_of(self.now)
                self._queue(wanting, receipt_event_id(seq), RECEIPT_WRITTEN, started, data)
        if len(rows) == batch:
            return int(rows[-1][0]), True
        return self._head("SELECT coalesce(max(seq), 0) FROM receipt_entries"), False

    def _receipt_run(self, receipt_id: str) -> str | None:
        row = self.tx.fetchone(
            "SELECT run_id FROM receipt_entries WHERE receipt_id = ? AND entry = 'began'",
            [receipt_id],
        )
        return None if row is None else row[0]

    def _run(self, run_id: str) -> tuple[str | None, dict[str, str]] | None:
        if run_id not in self._runs:
            row = self.tx.fetchone("SELECT workflow_slug, labels FROM runs WHERE id = ?", [run_id])
            self._runs[run_id] = None if row is None else (row[0], json.loads(row[1]))
        return self._runs[run_id]

    def _queue(
        self, hooks: list[_Hook], event_id: str, kind: str, created_at: str, data: dict[str, Any]
    ) -> None:
        self.tx.execute(
            "INSERT OR IGNORE INTO webhook_events (id, type, created_at, body) VALUES (?, ?, ?, ?)",
            [event_id, kind, created_at, body_text(event_id, kind, created_at, data)],
        )
        for hook in hooks:
            if queue_delivery(self.tx, hook.id, event_id, self.now) is not None:
                self.queued += 1
