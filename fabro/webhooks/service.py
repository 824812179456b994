"""Webhooks in a server: the subscriptions' operations the API calls, and the dispatcher and
sender tasks, started with the server and cancelled when it stops."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any, Protocol

from fabro.events.bus import EventBus
from fabro.storage.records import EventRecord, Page
from fabro.storage.webhook_queue import DueDelivery
from fabro.storage.webhooks import (
    DeliveryRecord,
    NewWebhook,
    WebhookChanges,
    WebhookRecord,
    WebhookStore,
)
from fabro.webhooks.dispatcher import Dispatcher
from fabro.webhooks.retry import RetryPolicy
from fabro.webhooks.sender import Sender
from fabro.webhooks.signing import new_secret


class Sealer(Protocol):
    """Encrypts signing secrets at rest (the secrets' key, when the server has one)."""

    def preload(self) -> None:
        """Read the key if there is one (blocking: called in a thread at startup)."""

    def load(self) -> None:
        """Read or make the key (blocking: called in a thread before sealing)."""

    def seal(self, plain: str) -> str: ...

    def open(self, sealed: str) -> str: ...


@dataclass(frozen=True)
class Subscription:
    """What a new subscription asks for."""

    url: str
    event_types: tuple[str, ...]
    workflow: str | None
    labels: dict[str, str]
    created_by: str | None


class Webhooks:
    """Subscriptions, their deliveries, and the tasks that deliver them."""

    def __init__(
        self,
        store: WebhookStore,
        bus: EventBus[EventRecord] | None,
        *,
        sealer: Sealer | None = None,
        policy: RetryPolicy | None = None,
        poll_s: float | None = None,
        **sender_options: Any,
    ) -> None:
        self.store = store
        self.sealer = sealer
        self.policy = policy or RetryPolicy()
        self.sender = Sender(store.queue, self._secret_of, self.policy, **sender_options)
        self.dispatcher = Dispatcher(store.queue, bus, self.sender.wake)
        if poll_s is not None:
            self.dispatcher.poll_s = poll_s
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if self.sealer is not None:
            await asyncio.to_thread(self.sealer.preload)  # the sender opens on the loop
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self.dispatcher.run(), name="webhooks-dispatcher"),
                asyncio.create_task(self.sender.run(), name="webhooks-sender"),
            ]

    async def close(self) -> None:
        """Cancel both tasks; what is pending stays in the database for the next start."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _secret_of(self, due: DueDelivery) -> str:
        if not due.sealed:
            return due.secret
        if self.sealer is None:
            raise RuntimeError("no key to open a sealed signing secret with")
        return self.sealer.open(due.secret)

    # ---- what the API calls ------------------------------------------------------------

    async def create(self, ask: Subscription) -> tuple[WebhookRecord, str]:
        """A new subscription and its signing secret (the only time the secret is given)."""
        secret = new_secret()
        sealed = self.sealer is not None
        stored = secret
        if self.sealer is not None:
            await asyncio.to_thread(self.sealer.load)
            stored = self.sealer.seal(secret)
        record = await self.store.create(
            NewWebhook(
                url=ask.url,
                event_types=ask.event_types,
                workflow=ask.workflow,
                labels=ask.labels,
                secret=stored,
                sealed=sealed,
                created_by=ask.created_by,
            )
        )
        self.dispatcher.wake()
        return record, secret

    async def get(self, webhook_id: str) -> WebhookRecord | None:
        return await self.store.get(webhook_id)

    async def list(self, *, limit: int, offset: int) -> Page[WebhookRecord]:
        return await self.store.list(limit=limit, offset=offset)

    async def update(self, webhook_id: str, changes: WebhookChanges) -> WebhookRecord | None:
        record = await self.store.update(webhook_id, changes)
        self.sender.wake()  # enabled again: its pending deliveries are due
        return record

    async def delete(self, webhook_id: str) -> bool:
        return await self.store.delete(webhook_id)

    async def ping(self, webhook_id: str) -> DeliveryRecord | None:
        delivery = await self.store.ping(webhook_id)
        self.sender.wake()
        return delivery

    async def deliveries(self, webhook_id: str, *, limit: int, offset: int) -> Page[DeliveryRecord]:
        return await self.store.deliveries(webhook_id, limit=limit, offset=offset)

    async def redeliver(self, webhook_id: str, delivery_id: str) -> DeliveryRecord | None:
        delivery = await self.store.redeliver(webhook_id, delivery_id)
        self.sender.wake()
        return delivery
