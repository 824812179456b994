"""GET /runs/{id}/events (api.md §6.8): stored events replayed, then live, over SSE.

The stream subscribes to the live bus first and then replays the store, skipping anything
already sent by sequence number, so no event falls between replay and live. Each frame's
`id:` is the event's per-run sequence, so a client that reconnects with Last-Event-ID
(after a crash, a restart or a dropped slow connection) gets every event exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from quart import Response, request

from fabro.api.context import Handler, services
from fabro.api.lookup import run_or_404
from fabro.api.request import MAX_SQL_INT
from fabro.engine.manager import TERMINAL_VARIANTS
from fabro.errors import BadRequest, Gone
from fabro.events.bus import Message, SubscriberOverflow, Subscription
from fabro.events.sse import comment, frame
from fabro.storage import runs
from fabro.storage.db import Database
from fabro.storage.records import EventRecord

KEEP_ALIVE_S = 15.0
REPLAY_BATCH = 500
SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


def start_position() -> int:
    """Last-Event-ID, else `?after=`, else 0."""
    header = request.headers.get("Last-Event-ID")
    if header is not None and header.strip():
        raw, name = header.strip(), "Last-Event-ID"
    else:
        raw, name = request.args.get("after", "0").strip() or "0", "after"
    try:
        value = int(raw)
    except ValueError:
        if name == "after":
            raise BadRequest("Query parameter 'after' must be an integer.") from None
        raise BadRequest("Header 'Last-Event-ID' must be an integer.") from None
    if value < 0:
        raise BadRequest(
            f"{'Query parameter' if name == 'after' else 'Header'} '{name}' must be >= 0."
        )
    return min(value, MAX_SQL_INT)


def is_terminal(record: EventRecord) -> bool:
    return record.child_depth == 0 and record.variant in TERMINAL_VARIANTS


async def stream_run_events(id: str) -> Response:
    run = await run_or_404(id)
    after = start_position()
    db = services().db
    if run.is_terminal and await runs.last_seq(db, run.id) <= after:
        raise Gone("Event stream closed.")
    subscription = services().runs.bus.subscribe(run.id)
    # The body is produced after the handler returns, outside the app context: it gets the
    # database handed in rather than looking it up.
    response = Response(_frames(db, run.id, after, subscription), 200, SSE_HEADERS)
    response.timeout = None  # an SSE stream lives as long as the run
    return response


async def _frames(
    db: Database, run_id: str, after: int, subscription: Subscription[EventRecord]
) -> AsyncIterator[bytes]:
    sent = after
    try:
        # Replay what is stored; live events meanwhile wait in the subscription's queue.
        # One chunk per batch: Hypercorn goes on writing what the app sends after the client
        # has gone, without yielding, until the disconnect cancels this generator at its next
        # await; frame by frame, that was up to a batch of dead writes per dropped stream,
        # each one logged by asyncio ("socket.send() raised exception").
        while True:
            batch = await runs.events_after(db, run_id, sent, limit=REPLAY_BATCH)
            chunk: list[bytes] = []
            ended = False
            for record in batch:
                chunk.append(frame(record.data_json(), id=record.seq))
                sent = record.seq
                if is_terminal(record):
                    ended = True
                    break
            if chunk:
                yield b"".join(chunk)
            if ended:
                return
            if len(batch) < REPLAY_BATCH:
                break
        # Then live: every message not already replayed.
        while True:
            message = await _next(subscription)
            if message is None:
                yield comment("keep-alive")
                continue
            if message is _ENDED:
                return
            assert isinstance(message, Message)
            record = message.payload
            if record.seq <= sent:
                continue
            if record.seq > sent + 1:
                # A gap can only come from events committed but not (yet) published here;
                # fill it from the store so the client sees every event once, in order.
                for missing in await runs.events_after(
                    db, run_id, sent, limit=record.seq - sent - 1
                ):
                    yield frame(missing.data_json(), id=missing.seq)
                    sent = missing.seq
            yield _LIVE_FRAMES.encode(record)
            sent = record.seq
            if is_terminal(record):
                return
    finally:
        subscription.close()


_ENDED = object()


class _EncodedFrames:
    """Frames of live events, encoded once: the bus hands every subscriber the same record.

    Entries keep their record alive, so an ``id()`` cannot be reused while it is cached.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._frames: dict[int, tuple[EventRecord, bytes]] = {}

    def encode(self, record: EventRecord) -> bytes:
        entry = self._frames.get(id(record))
        if entry is not None and entry[0] is record:
            return entry[1]
        encoded = frame(record.data_json(), id=record.seq)
        if len(self._frames) >= self._size:
            del self._frames[next(iter(self._frames))]  # the oldest entry
        self._frames[id(record)] = (record, encoded)
        return encoded


_LIVE_FRAMES = _EncodedFrames(1024)


async def _next(subscription: Subscription[EventRecord]) -> Message[EventRecord] | object | None:
    """The next live message; None after 15 s of silence (keep-alive); _ENDED when closed."""
    try:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for wraps every call in a new
        # task, which is most of the cost of fanning one event out to many subscribers.
        async with asyncio.timeout(KEEP_ALIVE_S):
            return await anext(subscription)
    except TimeoutError:
        return None
    except (StopAsyncIteration, SubscriberOverflow):
        # Closed by the bus, or dropped for falling behind: end the response; the client
        # reconnects with Last-Event-ID and replays from the store.
        return _ENDED


HANDLERS: dict[str, Handler] = {"streamRunEvents": stream_run_events}
