"""In-memory fan-out of live events per key (a run id or a session id), engine.md §4.3.

Events are persisted before they are published, so the bus may drop a subscriber at any time:
a subscriber that falls a full queue behind is cut off with ``SubscriberOverflow`` and
reconnects with ``Last-Event-ID``, replaying the gap from the database. ``publish`` never blocks
and never awaits, so a slow client cannot hold up the engine. All methods must be called from the
event loop's thread.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, TypeVar

DEFAULT_MAX_QUEUE = 1_000

P = TypeVar("P")


# A signal to end the response rather than a fault, hence no "Error" suffix.
class SubscriberOverflow(Exception):
    """The subscriber fell too far behind and was dropped; reconnect from the last seq seen."""


@dataclass(frozen=True)
class BusMessage(Generic[P]):
    """One published event: its stored sequence number and its payload."""

    seq: int
    payload: P


class _State(enum.Enum):
    OPEN = "open"
    ENDED = "ended"  # the key was closed: deliver what is queued, then stop
    OVERFLOWED = "overflowed"  # dropped by the bus: raise SubscriberOverflow
    CLOSED = "closed"  # closed by its owner: stop at once


class Subscription(Generic[P]):
    """A subscriber's view of one key: an async iterator of BusMessages over a bounded queue."""

    def __init__(self, bus: EventBus[P], key: str, max_queue: int) -> None:
        self.key = key
        self._bus: EventBus[P] | None = bus
        self._max_queue = max_queue
        self._items: deque[BusMessage[P]] = deque()
        self._state = _State.OPEN
        self._wakeup = asyncio.Event()

    @property
    def overflowed(self) -> bool:
        """Whether the bus dropped this subscriber for falling behind."""
        return self._state is _State.OVERFLOWED

    @property
    def closed(self) -> bool:
        """Whether no more messages will be added (the iterator may still drain queued ones)."""
        return self._state is not _State.OPEN

    def _offer(self, message: BusMessage[P]) -> None:
        if self._state is not _State.OPEN:
            return
        if len(self._items) >= self._max_queue:
            # Drop what is queued too: the client replays it from the store after reconnecting.
            self._items.clear()
            self._finish(_State.OVERFLOWED)
            return
        self._items.append(message)
        self._wakeup.set()

    def _finish(self, state: _State) -> None:
        self._state = state
        if self._bus is not None:
            self._bus._remove(self)
            self._bus = None
        self._wakeup.set()

    def end(self) -> None:
        """Let the iterator deliver what is queued, then stop (what ``EventBus.close`` does)."""
        if self._state is _State.OPEN:
            self._finish(_State.ENDED)

    def close(self) -> None:
        """Unsubscribe now; queued messages are discarded. Closing twice is safe."""
        if self._state is not _State.OVERFLOWED:
            self._items.clear()
            self._finish(_State.CLOSED)

    async def aclose(self) -> None:
        """``close`` for ``contextlib.aclosing`` and async generator-style owners."""
        self.close()

    def __aiter__(self) -> Subscription[P]:
        return self

    async def __anext__(self) -> BusMessage[P]:
        while True:
            if self._items:
                return self._items.popleft()
            if self._state is _State.OVERFLOWED:
                raise SubscriberOverflow(f"subscriber of {self.key!r} fell behind")
            if self._state is not _State.OPEN:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()

    def ready(self) -> list[BusMessage[P]]:
        """Take every message already queued, without waiting (a burst to send in one write)."""
        items = list(self._items)
        self._items.clear()
        return items

    async def __aenter__(self) -> Subscription[P]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class EventBus(Generic[P]):
    """Per-key fan-out of published messages to every current subscriber of that key."""

    def __init__(self, *, max_queue: int = DEFAULT_MAX_QUEUE) -> None:
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        self._max_queue = max_queue
        self._subscribers: dict[str, set[Subscription[P]]] = {}
        self._shut = False

    def subscribe(self, key: str, *, max_queue: int | None = None) -> Subscription[P]:
        """A new subscription that receives every message published to ``key`` from now on."""
        if max_queue is not None and max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        subscription = Subscription(self, key, max_queue or self._max_queue)
        self._subscribers.setdefault(key, set()).add(subscription)
        if self._shut:
            subscription.end()  # shutting down: nothing live will come
        return subscription

    def publish(self, key: str, seq: int, payload: P) -> None:
        """Queue a message for every subscriber of ``key``; drops those whose queue is full."""
        message = BusMessage(seq, payload)
        # A snapshot: an overflowing subscriber removes itself while we iterate.
        for subscription in tuple(self._subscribers.get(key, ())):
            subscription._offer(message)

    def close(self, key: str) -> None:
        """End every subscriber of ``key`` once it has drained (after the terminal event)."""
        for subscription in tuple(self._subscribers.get(key, ())):
            subscription.end()

    def close_all(self) -> None:
        """Shutdown: end every subscriber, and every later one at once.

        Open streams then finish after what is queued, so the HTTP server's graceful drain
        is not held up by them; clients reconnect with Last-Event-ID to the next server.
        """
        self._shut = True
        for subs in tuple(self._subscribers.values()):
            for subscription in tuple(subs):
                subscription.end()

    def subscriber_count(self, key: str | None = None) -> int:
        """Current subscribers of ``key``, or of all keys."""
        if key is not None:
            return len(self._subscribers.get(key, ()))
        return sum(len(subs) for subs in self._subscribers.values())

    def _remove(self, subscription: Subscription[P]) -> None:
        subs = self._subscribers.get(subscription.key)
        if subs is None:
            return
        subs.discard(subscription)
        if not subs:  # no empty sets left behind for finished runs
            del self._subscribers[subscription.key]
