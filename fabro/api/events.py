"""GET /runs/{id}/events (api.md §6.8): stored events replayed, then live, over SSE
(fabro/api/streams.py); the stream ends after the run's terminal event."""

from __future__ import annotations

from quart import Response

from fabro.api.context import Handler, services
from fabro.api.streams import SSE_HEADERS, replay_then_live, start_position
from fabro.engine.scheduler import TERMINAL_VARIANTS
from fabro.errors import Gone, NotFound
from fabro.events.sse import frame
from fabro.storage.records import EventRecord


def is_terminal(record: EventRecord) -> bool:
    return record.child_depth == 0 and record.variant in TERMINAL_VARIANTS


async def stream_run_events(id: str) -> Response:
    store = services().store
    # The summary, not the whole run: no source or graph to parse for a stream.
    run = await store.get_run_summary(id)
    if run is None:
        raise NotFound("Run not found.")
    after = start_position()
    if run.is_terminal and await store.last_seq(run.id) <= after:
        raise Gone("Event stream closed.")
    run_id = run.id
    subscription = services().runs.bus.subscribe(run_id)
    # The body is produced after the handler returns, outside the app context: it gets the
    # store handed in rather than looking it up. The closure holds the run's id only, as it
    # lives as long as the stream.
    frames = replay_then_live(
        subscription,
        after,
        read_after=lambda seq, limit: store.events_after(run_id, seq, limit=limit),
        encode=_frame,
        encode_live=_LIVE_FRAMES.encode,
        is_last=is_terminal,
    )
    response = Response(frames, 200, SSE_HEADERS)
    response.timeout = None  # an SSE stream lives as long as the run
    return response


def _frame(record: EventRecord) -> bytes:
    return frame(record.data_json(), id=record.seq)


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
        encoded = _frame(record)
        if len(self._frames) >= self._size:
            del self._frames[next(iter(self._frames))]  # the oldest entry
        self._frames[id(record)] = (record, encoded)
        return encoded


_LIVE_FRAMES = _EncodedFrames(1024)


HANDLERS: dict[str, Handler] = {"streamRunEvents": stream_run_events}
