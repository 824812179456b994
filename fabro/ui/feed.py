"""The board's columns and its live feed: which column a run is in, and a small message for
every change of a run's state, streamed to open boards over SSE.

The feed follows the scheduler's reserved ``STATES_KEY`` on the event bus: events there are
committed before they are published, so a message never announces a state the store does not
hold yet. Each board has a bounded queue; one that falls behind is dropped and its browser
reconnects (EventSource does by itself) and reloads its columns, so nothing is missed. A
message costs the same however many runs the boards show: one offer per open board.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fabro.engine.scheduler import STATES_KEY
from fabro.events.bus import EventBus, Subscription
from fabro.events.sse import KEEP_ALIVE, KEEP_ALIVE_S, bursts, comment, frame
from fabro.storage.records import EventRecord
from fabro.storage.store import ACTIVE, UNFINISHED

# Messages a board may fall behind by before it is dropped (it then reloads its columns).
FEED_QUEUE = 256
# How soon a browser reconnects after its stream ended (EventSource's `retry`).
RECONNECT_MS = 1000


@dataclass(frozen=True)
class Column:
    """One column of the board: the runs whose status is in ``statuses`` and whose
    waiting for a person is ``waiting`` (None: either)."""

    key: str
    title: str
    statuses: tuple[str, ...]
    waiting: bool | None


COLUMNS = (
    Column("active", "Queued and running", UNFINISHED, waiting=False),
    Column("waiting", "Waiting for a person", ACTIVE, waiting=True),
    Column("completed", "Completed", ("completed",), waiting=None),
    Column("failed", "Failed or cancelled", ("failed", "cancelled"), waiting=None),
)
COLUMN_KEYS = tuple(column.key for column in COLUMNS)


def column_of(status: str, *, waiting: bool) -> str:
    """The key of the column a run is in; ``waiting``: one of its questions is pending."""
    if status == "completed":
        return "completed"
    if status in ("failed", "cancelled"):
        return "failed"
    return "waiting" if waiting and status in ACTIVE else "active"


# What each event on STATES_KEY says of its run: (status, column). A hint only: the board
# then reads the run's card, which holds its column as stored.
_CHANGES = {
    "RunQueued": ("queued", "active"),
    "WorkflowRunStarted": ("running", "active"),
    "InterviewStarted": ("running", "waiting"),
    "InterviewCompleted": ("running", "active"),
    "InterviewTimeout": ("running", "active"),
    "RunPaused": ("paused", "active"),
    "RunResumed": ("running", "active"),
    "WorkflowRunCompleted": ("completed", "completed"),
    "WorkflowRunFailed": ("failed", "failed"),
    "RunCancelled": ("cancelled", "failed"),
}


@dataclass(frozen=True)
class BoardChange:
    """A run's state changed: the message the board's feed sends."""

    run_id: str
    status: str
    column: str

    def to_json(self) -> str:
        return json.dumps({"run_id": self.run_id, "status": self.status, "column": self.column})


def change_of(record: EventRecord) -> BoardChange | None:
    """The board's message for a committed event, or None when it changes nothing there."""
    known = _CHANGES.get(record.variant)
    if known is None:
        return None
    return BoardChange(record.run_id, *known)


def subscribe(bus: EventBus[EventRecord]) -> Subscription[EventRecord]:
    """A board's subscription to every run's changes of state."""
    return bus.subscribe(STATES_KEY, max_queue=FEED_QUEUE)


async def board_frames(subscription: Subscription[EventRecord]) -> AsyncIterator[bytes]:
    """The SSE body of one board: a reconnect delay, then one frame per change, with
    keep-alives; ends when the bus drops or ends the subscription. Closes it."""
    try:
        yield f"retry: {RECONNECT_MS}\n".encode() + comment("board feed")
        async for burst in bursts(subscription, KEEP_ALIVE_S):  # ends: the browser reconnects
            if not burst:
                yield KEEP_ALIVE
                continue
            chunk = b"".join(frame(change.to_json()) for change in _latest_per_run(burst))
            if chunk:
                yield chunk
    finally:
        subscription.close()


def _latest_per_run(burst: list[EventRecord]) -> list[BoardChange]:
    """A burst's changes, only the last of each run (its card is read again anyway)."""
    latest: dict[str, BoardChange] = {}
    for record in burst:
        change = change_of(record)
        if change is not None:
            latest.pop(change.run_id, None)  # keeps the order of the last changes
            latest[change.run_id] = change
    return list(latest.values())
