"""Server-Sent Event streams of stored events: replayed after the client's position, then live.

Used by the run event stream (api.md §6.8) and the chat session stream (§11). The caller
subscribes to the live bus first; the stream then replays the store, skipping anything already
sent by sequence number, so no event falls between replay and live. Each frame's `id:` is the
event's sequence, so a client that reconnects with Last-Event-ID (after a crash, a restart or
a dropped slow connection) gets every event exactly once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Generic, Protocol, TypeVar

from quart import request

from fabro.api.request import MAX_SQL_INT
from fabro.errors import BadRequest
from fabro.events.bus import Subscription
from fabro.events.sse import KEEP_ALIVE, KEEP_ALIVE_S, bursts

# Records read from the store at a time, and the size frames are joined up to for one write.
# Frames go out in chunks rather than one by one because Hypercorn goes on writing what the app
# sends after the client has gone, until the disconnect cancels the stream at its next real
# await: frame by frame, that was a run of dead writes per dropped stream, each past the fifth
# logged by asyncio ("socket.send() raised exception"). Bounded, because every subscriber holds
# its own batch and chunk (and Hypercorn and the socket their copies of the chunk): 500
# subscribers replaying 500-event batches in one piece cost about 1 MB each.
REPLAY_BATCH = 100
CHUNK_BYTES = 32 * 1024
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
    stream = _Stream(after, read_after, encode, encode_live or encode, is_last)
    try:
        async for chunk in stream.stored():
            yield chunk
        if stream.ended:
            return
        async for burst in bursts(subscription, KEEP_ALIVE_S):
            if not burst:
                yield KEEP_ALIVE
                continue
            async for chunk in stream.live(burst):
                yield chunk
            if stream.ended:
                return
    finally:
        subscription.close()


class _Stream(Generic[R]):
    """One response's position in the event sequence, and its frames cut into bounded chunks.

    Between events a stream holds its position and the last chunk it sent, nothing more: the
    records of each read from the store are let go once their frames are out, so an idle
    subscriber costs a few tens of KB (Quart's request and Hypercorn's connection, mostly).
    """

    def __init__(
        self,
        after: int,
        read_after: Callable[[int, int], Awaitable[list[R]]],
        encode: Callable[[R], bytes],
        encode_live: Callable[[R], bytes],
        is_last: Callable[[R], bool],
    ) -> None:
        self.sent = after
        self.ended = False
        self._read_after = read_after
        self._encode = encode
        self._encode_live = encode_live
        self._is_last = is_last
        self._frames: list[bytes] = []
        self._size = 0

    async def stored(self, *, through: int | None = None) -> AsyncIterator[bytes]:
        """Stored records after ``sent`` (up to ``through``), then whatever chunk is left."""
        while not self.ended:
            wanted = REPLAY_BATCH if through is None else min(REPLAY_BATCH, through - self.sent)
            if wanted <= 0:
                break
            batch = await self._read_after(self.sent, wanted)
            for record in batch:
                full = self._add(record, self._encode(record))
                if full:
                    yield full
                if self.ended:
                    break
            if len(batch) < wanted:
                break
        if through is None:
            rest = self._take()
            if rest:
                yield rest

    async def live(self, burst: list[R]) -> AsyncIterator[bytes]:
        """A burst published together, with any gap before it filled from the store."""
        for record in burst:
            if record.seq <= self.sent:
                continue
            if record.seq > self.sent + 1:
                # A gap can only come from events committed but not (yet) published here;
                # fill it from the store so the client sees every event once, in order.
                async for chunk in self.stored(through=record.seq - 1):
                    yield chunk
                if self.ended:
                    break
            full = self._add(record, self._encode_live(record))
            if full:
                yield full
            if self.ended:
                break
        rest = self._take()
        if rest:
            yield rest

    def _add(self, record: R, frame: bytes) -> bytes | None:
        """Queue one record's frame; a full chunk (or the stream's end) comes back to send."""
        self.sent = record.seq
        self.ended = self._is_last(record)
        self._frames.append(frame)
        self._size += len(frame)
        return self._take() if self._size >= CHUNK_BYTES or self.ended else None

    def _take(self) -> bytes | None:
        if not self._frames:
            return None
        chunk = b"".join(self._frames)
        self._frames = []
        self._size = 0
        return chunk
