"""Server-Sent Event streams of stored events: replayed after the client's position, then live.

Used by the run event stream (api.md §6.8) and the chat session stream (§11). The caller
subscribes to the live bus first; the stream then replays the store, skipping anything already
sent by sequence number, so no event falls between replay and live. Each frame's `id:` is the
event's sequence, so a client that reconnects with Last-Event-ID (after a crash, a restart or
a dropped slow connection) gets every event exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol, TypeVar

from quart import request

from fabro.api.request import MAX_SQL_INT
from fabro.errors import BadRequest
from fabro.events.bus import SubscriberOverflow, Subscription
from fabro.events.sse import comment

KEEP_ALIVE_S = 15.0
REPLAY_BATCH = 500
SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


class Sequenced(Protocol):
    @property
    def seq(self) -> int: ...


R = TypeVar("R", bound=Sequenced)


def start_position(*, default: int = 0) -> int:
    """Last-Event-ID, else `?after=`, else ``default``: the sequence already seen."""
    header = (request.headers.get("Last-Event-ID") or "").strip()
    if header:
        raw, name = header, "Header 'Last-Event-ID'"
    else:
        raw, name = (request.args.get("after") or "").strip(), "Query parameter 'after'"
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer.") from None
    if value < 0:
        raise BadRequest(f"{name} must be >= 0.")
    return min(value, MAX_SQL_INT)  # nothing lies further; SQLite integers end there


async def replay_then_live(
    subscription: Subscription[R],
    after: int,
    *,
    read_after: Callable[[int, int], Awaitable[list[R]]],
    encode: Callable[[R], bytes],
    encode_live: Callable[[R], bytes] | None = None,
    is_last: Callable[[R], bool] = lambda _record: False,
) -> AsyncIterator[bytes]:
    """The frames after ``after``: stored ones (``read_after(after, limit)``), then live ones,
    with keep-alive comments; ends after an ``is_last`` record or when the bus ends the
    subscription. Closes the subscription."""
    live_encode = encode_live or encode
    sent = after
    try:
        while True:
            batch = await read_after(sent, REPLAY_BATCH)
            # One chunk per batch: Hypercorn goes on writing what the app sends after the client
            # has gone, without yielding, until the disconnect cancels this generator at its
            # next await; frame by frame, that was a batch of dead writes per dropped stream,
            # each one logged by asyncio ("socket.send() raised exception").
            chunk: list[bytes] = []
            ended = False
            for record in batch:
                chunk.append(encode(record))
                sent = record.seq
                if is_last(record):
                    ended = True
                    break
            if chunk:
                yield b"".join(chunk)
            if ended:
                return
            if len(batch) < REPLAY_BATCH:
                break
        while True:
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for wraps every call in a
                # new task, most of the cost of fanning one event out to many subscribers.
                async with asyncio.timeout(KEEP_ALIVE_S):
                    message = await anext(subscription)
            except TimeoutError:
                yield comment("keep-alive")
                continue
            except (StopAsyncIteration, SubscriberOverflow):
                # Closed by the bus, or dropped for falling behind: end the response; the client
                # reconnects with Last-Event-ID and replays from the store.
                return
            # A burst published together goes out as one chunk (see the replay loop above).
            chunk = []
            for record in (message.payload, *(queued.payload for queued in subscription.ready())):
                if record.seq <= sent:
                    continue
                if record.seq > sent + 1:
                    # A gap can only come from events committed but not (yet) published here;
                    # fill it from the store so the client sees every event once, in order.
                    for missing in await read_after(sent, record.seq - sent - 1):
                        chunk.append(encode(missing))
                        sent = missing.seq
                chunk.append(live_encode(record))
                sent = record.seq
                if is_last(record):
                    yield b"".join(chunk)
                    return
            if chunk:
                yield b"".join(chunk)
    finally:
        subscription.close()
