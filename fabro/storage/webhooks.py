"""Webhook subscriptions, their deliveries and the dispatcher's cursor (migrations/0010).

``dispatch`` is the one place events become deliveries: in one write transaction it reads the
committed events after the cursor, queues each matching one for every subscription that wants
it, and advances the cursor. A crash before the commit loses nothing (the cursor did not
move); a crash after it queues nothing twice (it did). Secrets are stored as the caller gives
them (fabro/webhooks/service.py seals them when it can).
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ulid import ULID

from fabro import jsontext
from fabro.clock import format_ts
from fabro.storage.connection import Row
from fabro.storage.db import Database
from fabro.storage.records import Page
from fabro.storage.writer import WriteTx
from fabro.webhooks.events import (
    PING,
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
class NewWebhook:
    url: str
    event_types: tuple[str, ...]
    workflow: str | None
    labels: dict[str, str]
    secret: str  # as stored: sealed when ``sealed``
    sealed: bool
    created_by: str | None


@dataclass(frozen=True)
class WebhookChanges:
    """What a PATCH changes; None: unchanged (workflow "": no workflow filter)."""

    url: str | None = None
    event_types: tuple[str, ...] | None = None
    workflow: str | None = None
    labels: dict[str, str] | None = None
    enabled: bool | None = None


@dataclass(frozen=True)
class WebhookRecord:
    id: str
    url: str
    event_types: tuple[str, ...]
    workflow: str | None
    labels: dict[str, str]
    enabled: bool
    disabled_reason: str | None
    failures_in_a_row: int
    created_by: str | None
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class DeliveryRecord:
    id: str
    webhook_id: str
    event_id: str
    event_type: str
    status: str  # pending, succeeded, failed (given up)
    attempts: int
    next_attempt_at: str | None
    response_code: int | None
    response_body: str | None
    error: str | None
    latency_ms: int | None
    created_at: str
    updated_at: str


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


_WEBHOOK_COLUMNS = (
    "id, url, event_types, workflow, labels, enabled, disabled_reason, failures_in_a_row,"
    " created_by, created_at, updated_at"
)
_DELIVERY_COLUMNS = (
    "d.id, d.webhook_id, d.event_id, e.type, d.status, d.attempts, d.next_attempt_at,"
    " d.response_code, d.response_body, d.error, d.latency_ms, d.created_at, d.updated_at"
)


def _webhook(row: Row | Sequence[Any]) -> WebhookRecord:
    (id_, url, types, workflow, labels, enabled, reason, failures, by, created, updated) = tuple(
        row
    )
    return WebhookRecord(
        id=id_,
        url=url,
        event_types=tuple(json.loads(types)),
        workflow=workflow,
        labels=json.loads(labels),
        enabled=bool(enabled),
        disabled_reason=reason,
        failures_in_a_row=int(failures),
        created_by=by,
        created_at=created,
        updated_at=updated,
    )


def _delivery(row: Row | Sequence[Any]) -> DeliveryRecord:
    (id_, hook, event, kind, status, attempts, due, code, body, error, ms, created, updated) = (
        tuple(row)
    )
    return DeliveryRecord(
        id=id_,
        webhook_id=hook,
        event_id=event,
        event_type=kind,
        status=status,
        attempts=int(attempts),
        next_attempt_at=None if due is None else ts_of(float(due)),
        response_code=code,
        response_body=body,
        error=error,
        latency_ms=ms,
        created_at=created,
        updated_at=updated,
    )


class WebhookStore:
    """Subscriptions, deliveries and dispatching, in one SQLite database."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock  # unix seconds

    # ---- subscriptions -----------------------------------------------------------------

    async def create(self, new: NewWebhook) -> WebhookRecord:
        webhook_id = str(ULID())
        now = ts_of(self.clock())

        def write(tx: WriteTx) -> None:
            # Only events committed from now on are news to it (whatever the cursor's lag).
            tx.execute(
                "INSERT INTO webhooks (id, url, event_types, workflow, labels, secret, sealed,"
                " after_event, after_receipt, created_by, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?,"
                " (SELECT coalesce(max(rowid), 0) FROM run_events),"
                " (SELECT coalesce(max(seq), 0) FROM receipt_entries), ?, ?, ?)",
                [
                    webhook_id,
                    new.url,
                    jsontext.dumps(list(new.event_types)),
                    new.workflow,
                    jsontext.dumps(new.labels),
                    new.secret,
                    int(new.sealed),
                    new.created_by,
                    now,
                    now,
                ],
            )

        await self.db.write(write)
        created = await self.get(webhook_id)
        assert created is not None
        return created

    async def get(self, webhook_id: str) -> WebhookRecord | None:
        row = await self.db.fetchone(
            f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks WHERE id = ?", [webhook_id]
        )
        return None if row is None else _webhook(row)

    async def list(self, *, limit: int, offset: int) -> Page[WebhookRecord]:
        """Subscriptions, newest first."""
        rows = await self.db.fetchall(
            f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks ORDER BY created_at DESC, id DESC"
            " LIMIT ? OFFSET ?",
            [limit + 1, offset],
        )
        return Page([_webhook(row) for row in rows[:limit]], has_more=len(rows) > limit)

    async def update(self, webhook_id: str, changes: WebhookChanges) -> WebhookRecord | None:
        sets: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("url", changes.url),
            ("event_types", None if changes.event_types is None else list(changes.event_types)),
            ("labels", changes.labels),
        ):
            if value is not None:
                sets.append(f"{column} = ?")
                params.append(value if isinstance(value, str) else jsontext.dumps(value))
        if changes.workflow is not None:
            sets.append("workflow = ?")
            params.append(changes.workflow or None)
        if changes.enabled is not None:
            sets.append("enabled = ?")
            params.append(int(changes.enabled))
            if changes.enabled:  # enabled again: a fresh start
                sets.append("disabled_reason = NULL, failures_in_a_row = 0, failing_since = NULL")
            else:
                sets.append("disabled_reason = 'disabled by a user'")
        sets.append("updated_at = ?")
        params.append(ts_of(self.clock()))
        changed = await self.db.write(
            lambda tx: tx.execute(
                f"UPDATE webhooks SET {', '.join(sets)} WHERE id = ?", [*params, webhook_id]
            )
        )
        return await self.get(webhook_id) if changed else None

    async def delete(self, webhook_id: str) -> bool:
        """Delete a subscription and its deliveries (their attempts go with them)."""
        changed = await self.db.write(
            lambda tx: tx.execute("DELETE FROM webhooks WHERE id = ?", [webhook_id])
        )
        return changed > 0

    # ---- deliveries --------------------------------------------------------------------

    async def ping(self, webhook_id: str) -> DeliveryRecord | None:
        """Queue a ``ping`` delivery to the subscription (its test), due now."""
        now = self.clock()
        event_id = f"ping_{ULID()}"
        body = body_text(event_id, PING, ts_of(now), {"webhook_id": webhook_id})

        def write(tx: WriteTx) -> str | None:
            if tx.fetchone("SELECT 1 FROM webhooks WHERE id = ?", [webhook_id]) is None:
                return None
            tx.execute(
                "INSERT INTO webhook_events (id, type, created_at, body) VALUES (?, ?, ?, ?)",
                [event_id, PING, ts_of(now), body],
            )
            return _queue(tx, webhook_id, event_id, now)

        delivery_id = await self.db.write(write)
        return None if delivery_id is None else await self.delivery(webhook_id, delivery_id)

    async def delivery(self, webhook_id: str, delivery_id: str) -> DeliveryRecord | None:
        row = await self.db.fetchone(
            f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries AS d"
            " JOIN webhook_events AS e ON e.id = d.event_id"
            " WHERE d.webhook_id = ? AND d.id = ?",
            [webhook_id, delivery_id],
        )
        return None if row is None else _delivery(row)

    async def deliveries(self, webhook_id: str, *, limit: int, offset: int) -> Page[DeliveryRecord]:
        """A subscription's delivery log, newest first."""
        rows = await self.db.fetchall(
            f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries AS d"
            " JOIN webhook_events AS e ON e.id = d.event_id"
            " WHERE d.webhook_id = ? ORDER BY d.created_at DESC, d.id DESC LIMIT ? OFFSET ?",
            [webhook_id, limit + 1, offset],
        )
        return Page([_delivery(row) for row in rows[:limit]], has_more=len(rows) > limit)

    async def redeliver(self, webhook_id: str, delivery_id: str) -> DeliveryRecord | None:
        """Send a delivery again, now, with the same id (a receiver that has it dedups it),
        retried for another day if it fails."""
        now = self.clock()
        changed = await self.db.write(
            lambda tx: tx.execute(
                "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?,"
                " created_s = ?, updated_at = ? WHERE webhook_id = ? AND id = ?",
                [now, now, ts_of(now), webhook_id, delivery_id],
            )
        )
        return await self.delivery(webhook_id, delivery_id) if changed else None

    async def due(self, limit: int, exclude: Sequence[str] = ()) -> builtins.list[DueDelivery]:
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


def _queue(tx: WriteTx, webhook_id: str, event_id: str, now: float) -> str | None:
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
            if _queue(self.tx, hook.id, event_id, self.now) is not None:
                self.queued += 1
