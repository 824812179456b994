"""Webhook subscriptions and their delivery log (migrations/0010).

Secrets are stored as the caller gives them (fabro/webhooks/service.py seals them when it
can). Sending is the delivery queue's (fabro/storage/webhook_queue.py), which the store
hands on as ``queue``; a test ping and a redelivery are queued here, due now.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ulid import ULID

from fabro import jsontext
from fabro.storage.connection import Row
from fabro.storage.db import Database
from fabro.storage.records import Page
from fabro.storage.webhook_queue import DeliveryQueue, queue_delivery, ts_of
from fabro.storage.writer import WriteTx
from fabro.webhooks.events import PING, body_text


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
    """Subscriptions and their delivery log, in one SQLite database."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock  # unix seconds
        self.queue = DeliveryQueue(db, clock)

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
            return queue_delivery(tx, webhook_id, event_id, now)

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
