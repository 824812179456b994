"""replay_then_live: every event once, in order, and few writes per burst.

A burst goes out as one chunk because Hypercorn goes on writing what the app yields after the
client has gone, until the disconnect cancels the stream at its next real await; frame by
frame, a burst published to a dropped client was a run of dead writes, each past the fifth
logged by asyncio ("socket.send() raised exception"), found by `scripts/load`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fabro.api.streams import replay_then_live
from fabro.events.bus import EventBus


@dataclass(frozen=True)
class Record:
    seq: int
    last: bool = False


def encode(record: Record) -> bytes:
    return f"id: {record.seq}\n\n".encode()


def stored_reader(stored: list[Record]) -> Callable[[int, int], Awaitable[list[Record]]]:
    async def read_after(after: int, limit: int) -> list[Record]:
        return [record for record in stored if record.seq > after][:limit]

    return read_after


async def test_a_live_burst_is_one_chunk_and_gaps_are_filled_from_the_store() -> None:
    bus: EventBus[Record] = EventBus()
    stored = [Record(seq) for seq in range(1, 4)]
    subscription = bus.subscribe("run")
    frames = replay_then_live(
        subscription,
        0,
        read_after=stored_reader(stored),
        encode=encode,
        is_last=lambda record: record.last,
    )
    assert await anext(frames) == b"id: 1\n\nid: 2\n\nid: 3\n\n"  # the replay, one chunk
    # A burst: 3 again (already sent), then 5 and 6 published; 4 committed but not published.
    stored += [Record(4), Record(5), Record(6, last=True)]
    for record in (Record(3), Record(5), Record(6, last=True)):
        bus.publish("run", record.seq, record)
    assert await anext(frames) == b"id: 4\n\nid: 5\n\nid: 6\n\n"
    assert [chunk async for chunk in frames] == []  # ended after the last record
    assert subscription.closed and bus.subscriber_count() == 0


async def test_the_live_chunk_stops_at_the_last_record() -> None:
    bus: EventBus[Record] = EventBus()
    subscription = bus.subscribe("run")
    frames = replay_then_live(
        subscription,
        0,
        read_after=stored_reader([]),
        encode=encode,
        is_last=lambda record: record.last,
    )
    for record in (Record(1), Record(2, last=True), Record(3)):
        bus.publish("run", record.seq, record)
    assert [chunk async for chunk in frames] == [b"id: 1\n\nid: 2\n\n"]
