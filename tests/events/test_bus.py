from __future__ import annotations

import asyncio
import inspect
from typing import TypeVar

import pytest

from fabro.events.bus import (
    DEFAULT_MAX_QUEUE,
    BusMessage,
    EventBus,
    SubscriberOverflow,
    Subscription,
)

T = TypeVar("T")


async def drain(sub: Subscription[T]) -> list[BusMessage[T]]:
    return [message async for message in sub]


async def test_fan_out_to_many_subscribers() -> None:
    bus: EventBus[str] = EventBus()
    subs = [bus.subscribe("run") for _ in range(50)]
    readers = [asyncio.create_task(drain(sub)) for sub in subs]
    await asyncio.sleep(0)  # every reader is now waiting
    for seq in range(1, 6):
        bus.publish("run", seq, f"e{seq}")
    bus.close("run")
    expected = [BusMessage(seq, f"e{seq}") for seq in range(1, 6)]
    assert await asyncio.gather(*readers) == [expected] * 50
    assert bus.subscriber_count() == 0


async def test_keys_are_independent() -> None:
    bus: EventBus[str] = EventBus()
    a, b = bus.subscribe("a"), bus.subscribe("b")
    bus.publish("a", 1, "for a")
    bus.close("a")
    assert await drain(a) == [BusMessage(1, "for a")]
    assert not b.closed
    bus.publish("b", 1, "for b")
    bus.close("b")
    assert await drain(b) == [BusMessage(1, "for b")]


async def test_only_messages_published_after_subscribing_arrive() -> None:
    bus: EventBus[str] = EventBus()
    bus.publish("run", 1, "before")
    sub = bus.subscribe("run")
    bus.publish("run", 2, "after")
    bus.close("run")
    assert await drain(sub) == [BusMessage(2, "after")]


def test_publishing_without_subscribers_is_a_no_op() -> None:
    bus: EventBus[str] = EventBus()
    bus.publish("nobody", 1, "x")
    bus.close("nobody")
    assert bus.subscriber_count() == 0


async def test_a_slow_subscriber_overflows_without_affecting_others() -> None:
    bus: EventBus[int] = EventBus(max_queue=3)
    slow = bus.subscribe("run")
    fast = bus.subscribe("run")
    received: list[int] = []
    for seq in range(1, 11):
        bus.publish("run", seq, seq)  # never blocks, never awaits
        received.append((await anext(fast)).seq)
    assert received == list(range(1, 11))
    assert slow.overflowed and slow.closed
    assert not fast.closed
    with pytest.raises(SubscriberOverflow):
        await anext(slow)
    with pytest.raises(SubscriberOverflow):  # it stays overflowed
        await anext(slow)
    assert bus.subscriber_count("run") == 1


async def test_overflow_happens_only_past_the_queue_size() -> None:
    bus: EventBus[int] = EventBus(max_queue=3)
    sub = bus.subscribe("run")
    for seq in range(1, 4):
        bus.publish("run", seq, seq)
    assert not sub.overflowed
    bus.publish("run", 4, 4)
    assert sub.overflowed
    # The queued messages are dropped too: the client replays them from the store.
    with pytest.raises(SubscriberOverflow):
        await anext(sub)


async def test_a_stuck_reader_does_not_hold_up_the_publisher() -> None:
    bus: EventBus[int] = EventBus(max_queue=1)
    sub = bus.subscribe("run")
    seen: list[int] = []

    async def read() -> None:
        async for message in sub:
            seen.append(message.seq)
            await asyncio.sleep(3600)  # stuck while the publisher goes on

    reader = asyncio.create_task(read())
    bus.publish("run", 1, 1)
    await asyncio.sleep(0)
    bus.publish("run", 2, 2)
    bus.publish("run", 3, 3)  # queue of 1 was full
    assert sub.overflowed
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert seen == [1]


def test_default_queue_size() -> None:
    bus: EventBus[int] = EventBus()
    sub = bus.subscribe("run")
    for seq in range(DEFAULT_MAX_QUEUE):
        bus.publish("run", seq, seq)
    assert DEFAULT_MAX_QUEUE == 1_000
    assert not sub.overflowed
    bus.publish("run", DEFAULT_MAX_QUEUE, 0)
    assert sub.overflowed


def test_per_subscription_queue_size() -> None:
    bus: EventBus[int] = EventBus()
    small = bus.subscribe("run", max_queue=2)
    for seq in range(3):
        bus.publish("run", seq, seq)
    assert small.overflowed


@pytest.mark.parametrize("size", [0, -1])
def test_queue_size_must_be_positive(size: int) -> None:
    with pytest.raises(ValueError):
        EventBus(max_queue=size)
    with pytest.raises(ValueError):
        EventBus().subscribe("run", max_queue=size)


async def test_close_delivers_queued_messages_then_ends() -> None:
    bus: EventBus[str] = EventBus()
    sub = bus.subscribe("run")
    bus.publish("run", 1, "a")
    bus.publish("run", 2, "terminal")
    bus.close("run")
    assert sub.closed and not sub.overflowed
    bus.publish("run", 3, "after close")  # not delivered to the ended subscriber
    assert await drain(sub) == [BusMessage(1, "a"), BusMessage(2, "terminal")]
    with pytest.raises(StopAsyncIteration):
        await anext(sub)


async def test_close_wakes_a_waiting_reader() -> None:
    bus: EventBus[str] = EventBus()
    sub = bus.subscribe("run")
    reader = asyncio.create_task(drain(sub))
    await asyncio.sleep(0)
    bus.close("run")
    assert await asyncio.wait_for(reader, 1) == []


async def test_close_affects_only_current_subscribers() -> None:
    bus: EventBus[str] = EventBus()
    bus.close("run")
    later = bus.subscribe("run")
    bus.publish("run", 1, "x")
    assert not later.closed
    later.close()


async def test_unsubscribe_discards_queued_messages_and_is_idempotent() -> None:
    bus: EventBus[str] = EventBus()
    sub = bus.subscribe("run")
    other = bus.subscribe("run")
    bus.publish("run", 1, "a")
    sub.close()
    sub.close()
    assert bus.subscriber_count("run") == 1
    assert await drain(sub) == []
    bus.publish("run", 2, "b")
    bus.close("run")
    assert [m.seq for m in await drain(other)] == [1, 2]


async def test_closing_a_subscription_wakes_its_reader() -> None:
    bus: EventBus[str] = EventBus()
    sub = bus.subscribe("run")
    reader = asyncio.create_task(drain(sub))
    await asyncio.sleep(0)
    sub.close()
    assert await asyncio.wait_for(reader, 1) == []


async def test_context_manager_and_aclose_unsubscribe() -> None:
    bus: EventBus[str] = EventBus()
    async with bus.subscribe("run") as sub:
        assert bus.subscriber_count("run") == 1
        bus.publish("run", 1, "x")
        assert await anext(sub) == BusMessage(1, "x")
    assert bus.subscriber_count() == 0
    other = bus.subscribe("run")
    await other.aclose()
    assert bus.subscriber_count() == 0


async def test_a_cancelled_reader_leaves_no_subscription_behind() -> None:
    bus: EventBus[str] = EventBus()

    async def stream() -> None:
        async with bus.subscribe("run") as sub:
            async for _ in sub:
                pass

    task = asyncio.create_task(stream())
    await asyncio.sleep(0)
    assert bus.subscriber_count("run") == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert bus.subscriber_count() == 0


async def test_no_subscriptions_leak_across_many_runs() -> None:
    bus: EventBus[int] = EventBus(max_queue=2)
    for n in range(200):
        key = f"run-{n}"
        ended, overflowing, closed = bus.subscribe(key), bus.subscribe(key), bus.subscribe(key)
        closed.close()
        for seq in range(3):
            bus.publish(key, seq, seq)  # overflows everyone still subscribed
        ended2 = bus.subscribe(key)
        bus.close(key)
        assert ended.overflowed and overflowing.overflowed and ended2.closed
    assert bus.subscriber_count() == 0
    assert bus._subscribers == {}


def test_publish_and_close_are_plain_calls_that_cannot_block() -> None:
    assert not inspect.iscoroutinefunction(EventBus.publish)
    assert not inspect.iscoroutinefunction(EventBus.close)


async def test_close_all_ends_every_subscriber_after_its_queue_and_every_later_one() -> None:
    bus: EventBus[str] = EventBus()
    a, b = bus.subscribe("run-a"), bus.subscribe("run-b")
    bus.publish("run-a", 1, "queued")
    bus.close_all()
    assert [m.payload for m in await drain(a)] == ["queued"]
    assert await drain(b) == []
    late = bus.subscribe("run-a")
    bus.publish("run-a", 2, "after shutdown")
    assert await asyncio.wait_for(drain(late), 1) == []
    assert bus.subscriber_count() == 0


async def test_ready_takes_what_is_queued_without_waiting() -> None:
    bus: EventBus[str] = EventBus()
    sub = bus.subscribe("run")
    assert sub.ready() == []
    for seq in (1, 2, 3):
        bus.publish("run", seq, f"e{seq}")
    assert await anext(sub) == BusMessage(1, "e1")
    assert sub.ready() == [BusMessage(2, "e2"), BusMessage(3, "e3")]
    assert sub.ready() == []
    bus.close("run")
    assert await drain(sub) == []
