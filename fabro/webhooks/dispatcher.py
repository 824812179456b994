"""The dispatcher: turns committed events into deliveries (``DeliveryQueue.dispatch``).

The database is the source of truth: each pass reads after the stored cursor, so nothing
the bus drops or a crash interrupts is lost. The in-process bus only says *when* to look:
the dispatcher follows the key every committed event is published under (``EVENTS_KEY``),
so a delivery is queued within milliseconds of its event's commit; a poll catches the rest
(what it missed while it fell behind, receipts written from another process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from fabro.engine.scheduler import EVENTS_KEY
from fabro.events.bus import EventBus, SubscriberOverflow
from fabro.storage.records import EventRecord
from fabro.storage.space import log_retried_failure
from fabro.storage.webhook_queue import DeliveryQueue
from fabro.webhooks.events import VARIANTS

log = logging.getLogger(__name__)

POLL_S = 1.0
BATCH = 500
# Besides the subscribed variants, a run's stage boundaries: receipts commit with them.
_WAKING = frozenset({*VARIANTS, "StageStarted", "StageCompleted"})


class Dispatcher:
    """Queues deliveries after each commit that may matter, and at least every ``poll_s``."""

    def __init__(
        self,
        queue: DeliveryQueue,
        bus: EventBus[EventRecord] | None,
        queued: Callable[[], None],
        *,
        poll_s: float = POLL_S,
        batch: int = BATCH,
    ) -> None:
        self.queue = queue
        self.bus = bus
        self.queued = queued  # told when deliveries were queued (wakes the sender)
        self.poll_s = poll_s
        self.batch = batch
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Dispatch until cancelled; a failed pass is logged and tried again at the next."""
        watcher = asyncio.create_task(self._watch_events(), name="webhooks-watch")
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_s):
                        await self._wake.wait()
                self._wake.clear()
                try:
                    await self.pass_once()
                except Exception:  # a database error must not end dispatching for good
                    log_retried_failure(log, "webhook dispatch failed; trying again")
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def pass_once(self) -> int:
        """Dispatch everything committed so far; the number of deliveries queued."""
        queued = 0
        while await self.queue.behind():
            done = await self.queue.dispatch(self.batch)
            queued += done.queued
            if done.queued:
                self.queued()
            if not done.more:
                break
        return queued

    async def _watch_events(self) -> None:
        if self.bus is None:
            return
        while True:
            try:
                async with self.bus.subscribe(EVENTS_KEY) as events:
                    async for message in events:
                        if message.payload.variant in _WAKING:
                            self._wake.set()
            except SubscriberOverflow:
                self._wake.set()  # fell behind: look now, and follow again
                continue
            return  # the bus shut down
