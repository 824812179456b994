"""GET /events: every run's events as Server-Sent Events, in one global order (issue 19).

Each frame's `id:` is the event's global position (run_events' rowid, fabro/storage/
event_feed.py) and its data the event wrapped with its run: ``{"run_id": ..., "seq": <the
event's sequence in its run>, "event": {"StageStarted": {...}}}``. A client that reconnects
with Last-Event-ID (or `?after=`) gets every event after that position exactly once, across
restarts too: events are stored before they are published.

The stream subscribes to the bus first, then reads the store up to its newest event; after
that each burst of live events only wakes it up, and it reads the store again after the last
position it covered. The store is the one source of what is sent, so the switch from replay
to live can neither drop nor repeat an event. A subscriber whose queue fills up (it reads
slower than runs write) is dropped like a run stream's, and reconnects with Last-Event-ID.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

from quart import Response, request

from fabro.api.context import Handler, services
from fabro.api.streams import CHUNK_BYTES, REPLAY_BATCH, SSE_HEADERS, start_position
from fabro.engine.scheduler import EVENTS_KEY
from fabro.errors import BadRequest
from fabro.events.bus import Subscription
from fabro.events.sse import KEEP_ALIVE, KEEP_ALIVE_S, bursts, comment, frame
from fabro.events.types import RUN_EVENT_TYPES
from fabro.storage.event_feed import EventFeed, FeedEvent, FeedFilter
from fabro.storage.records import EventRecord

MAX_ID_CHARS = 200  # a run id or a workflow slug longer than this names nothing
MAX_LABELS = 16
MAX_TYPES = len(RUN_EVENT_TYPES)
_LABEL_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # as a run's labels (bodies/runs.py)
MAX_LABEL_VALUE = 256
OPENED = comment("open")


def _text_arg(name: str) -> str | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    if len(raw) > MAX_ID_CHARS:
        raise BadRequest(f"Query parameter '{name}' is longer than {MAX_ID_CHARS} characters.")
    return raw


def _labels() -> tuple[tuple[str, str], ...]:
    given = request.args.getlist("label")
    if len(given) > MAX_LABELS:
        raise BadRequest(f"Query parameter 'label' may be given at most {MAX_LABELS} times.")
    labels = []
    for raw in given:
        key, colon, value = raw.partition(":")
        if not colon or not _LABEL_KEY.fullmatch(key) or len(value) > MAX_LABEL_VALUE:
            raise BadRequest(
                "Query parameter 'label' must be key:value (a key of 1-64 letters, digits,"
                " '_', '.' or '-'; a value of at most 256 characters)."
            )
        labels.append((key, value))
    return tuple(labels)


def _variants() -> frozenset[str]:
    names = [part.strip() for raw in request.args.getlist("type") for part in raw.split(",")]
    names = [name for name in names if name]
    if len(names) > MAX_TYPES:
        raise BadRequest(f"Query parameter 'type' names more than {MAX_TYPES} event types.")
    for name in names:
        if name not in RUN_EVENT_TYPES:
            shown = name if len(name) <= 64 else name[:64] + "…"
            raise BadRequest(f"Query parameter 'type' has unknown event type '{shown}'.")
    return frozenset(names)


def feed_filter() -> FeedFilter:
    """The request's filters (`run`, `workflow`, `label`, `type`); 400 naming a bad one."""
    return FeedFilter(
        run_id=_text_arg("run"),
        workflow=_text_arg("workflow"),
        labels=_labels(),
        variants=_variants(),
    )


async def stream_events() -> Response:
    match = feed_filter()
    after = start_position()
    feed = services().event_feed
    subscription = services().runs.bus.subscribe(EVENTS_KEY)  # before the first read
    response = Response(_frames(feed, subscription, after, match), 200, SSE_HEADERS)
    response.timeout = None  # an SSE stream lives as long as its client
    return response


def _may_match(record: EventRecord, match: FeedFilter) -> bool:
    """Whether a live event could be one the stream carries (run and workflow filters need
    the store: any event may be theirs)."""
    if match.run_id is not None and record.run_id != match.run_id:
        return False
    return not match.variants or record.variant in match.variants


async def _frames(
    feed: EventFeed, subscription: Subscription[EventRecord], after: int, match: FeedFilter
) -> AsyncIterator[bytes]:
    position = after
    try:
        # At once, before any replay: a client that sees it knows the stream is subscribed
        # (so that what happens from now on reaches it), even when nothing is replayed.
        yield OPENED
        while True:
            head = await feed.head()
            chunk: list[bytes] = []
            size = 0
            while position < head:
                read = await feed.read(position, match, limit=REPLAY_BATCH, head=head)
                position = read.through
                for item in read.events:
                    encoded = _frame(item)
                    chunk.append(encoded)
                    size += len(encoded)
                    if size >= CHUNK_BYTES:
                        yield b"".join(chunk)
                        chunk, size = [], 0
            if chunk:
                yield b"".join(chunk)
            async for burst in bursts(subscription, KEEP_ALIVE_S):
                if not burst:
                    yield KEEP_ALIVE
                    continue
                if any(_may_match(record, match) for record in burst):
                    break  # read the store again after ``position``
            else:
                return  # the server stops, or this client fell behind: it reconnects
    finally:
        subscription.close()


def _frame(item: FeedEvent) -> bytes:
    record = item.event
    run_id = json.dumps(record.run_id)
    data = f'{{"run_id":{run_id},"seq":{record.seq},"event":{record.data_json()}}}'
    return frame(data, id=item.seq)


HANDLERS: dict[str, Handler] = {"streamEvents": stream_events}
