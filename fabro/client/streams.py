"""Following an event stream (a run's `GET /runs/{id}/events`, a chat session's
`GET /sessions/{id}/events`, every run's `GET /events`) without missing or repeating an
event: where a stream stands, with no I/O (``fabro.client.core.following`` is the loop that
reconnects; the clients' drivers only open connections and read lines).

A stream is read until the server says there is nothing more to send: a 410 to a request
made after everything was seen (a run's stream ends after its last event, and a reconnect
then gets the 410; a session's stream stays open until its reader stops). A stream that
ends otherwise (the server restarting) or a connection that breaks is opened again with
`Last-Event-ID`, so the server replays exactly what came after; an event at or before the
last one seen is never handed out twice.
Connection failures in a row are tolerated for ``patience_s`` (a server being restarted).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

import httpx

from fabro.auth.client import ClientSettings
from fabro.client.errors import FabroConnectionError, api_error
from fabro.events.sse import Frame, FrameParser
from fabro.events.types import RunEvent, event_from_json

E = TypeVar("E")
PATIENCE_S = 60.0  # connection failures in a row tolerated (a server restarting)
RECONNECT_DELAYS_S = (0.1, 0.25, 0.5, 1.0, 2.0)
# The server sends a comment every 15 s on an idle stream: a read waits longer than that.
STREAM_TIMEOUT = httpx.Timeout(10.0, read=60.0)


@dataclass(frozen=True)
class StreamedRunEvent:
    """One event of a run: its sequence number (its SSE id), its variant and JSON object
    (``{variant: data}``), and the typed event (None for a variant this client does not
    know: a newer server's)."""

    seq: int
    variant: str
    payload: dict[str, Any]
    event: RunEvent | None


@dataclass(frozen=True)
class StreamedSessionEvent:
    """One event of a chat session: its sequence number (from 0), its name (`assistant_turn`,
    `done`, ...) and its JSON data."""

    seq: int
    event: str
    data: Any


def run_event(frame: Frame, seq: int) -> StreamedRunEvent:
    return _run_event(json.loads(frame.data), seq)


def _run_event(payload: Any, seq: int) -> StreamedRunEvent:
    variant = next(iter(payload), "") if isinstance(payload, dict) else str(payload)
    try:
        event: RunEvent | None = event_from_json(payload)
    except (ValueError, TypeError, KeyError):
        event = None
    return StreamedRunEvent(seq, variant, payload, event)


@dataclass(frozen=True)
class StreamedGlobalEvent:
    """One event of the global stream (`GET /events`): its global position (its SSE id, the
    ``after`` to resume from), its run, its sequence in that run, and the event itself."""

    position: int
    run_id: str
    event: StreamedRunEvent


def global_event(frame: Frame, position: int) -> StreamedGlobalEvent:
    wrapped = json.loads(frame.data)
    event = _run_event(wrapped["event"], int(wrapped["seq"]))
    return StreamedGlobalEvent(position, str(wrapped["run_id"]), event)


def events_path(
    run: str | None = None,
    workflow: str | None = None,
    labels: Mapping[str, str] | None = None,
    types: Iterable[str] = (),
) -> str:
    """The path of `GET /events` with its filters."""
    params: list[tuple[str, str]] = []
    if run is not None:
        params.append(("run", run))
    if workflow is not None:
        params.append(("workflow", workflow))
    params += [("label", f"{key}:{value}") for key, value in (labels or {}).items()]
    if names := ",".join(types):
        params.append(("type", names))
    return "/events" + (f"?{urlencode(params)}" if params else "")


def session_event(frame: Frame, seq: int) -> StreamedSessionEvent:
    return StreamedSessionEvent(seq, frame.event or "message", json.loads(frame.data))


class EventFollower(Generic[E]):
    """Where an event stream stands: what was seen, when to reconnect, when it is over.
    ``after``: the last sequence number already seen (-1: none, for streams counted from 0);
    ``decode``: what a frame becomes."""

    def __init__(
        self,
        settings: ClientSettings,
        path: str,
        after: int,
        decode: Callable[[Frame, int], E],
        *,
        patience_s: float = PATIENCE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.path = path
        self.decode = decode
        self.last = after
        self.done = False
        self.patience_s = patience_s
        self.clock = clock
        self._failing_since: float | None = None
        self._failures = 0
        self._parser = FrameParser()

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream"}
        if self.last >= 0:
            headers["Last-Event-ID"] = str(self.last)
        return headers

    def refused(self, response: httpx.Response) -> None:
        """An answer >= 400 (its body read): 410 ends the stream; anything else is raised."""
        if response.status_code == 410:
            self.done = True
            return
        raise api_error(response)

    def opened(self) -> None:
        self._failing_since, self._failures = None, 0
        self._parser = FrameParser()

    def line(self, line: str) -> E | None:
        """The event a line of the stream completes, unless it was handed out before."""
        frame = self._parser.feed(line)
        if frame is None or frame.seq is None or frame.seq <= self.last:
            return None
        self.last = frame.seq
        return self.decode(frame, frame.seq)

    def broken(self, error: Exception) -> float:
        """Seconds to wait before reconnecting after ``error``; raises once patience is out."""
        now = self.clock()
        if self._failing_since is None:
            self._failing_since = now
        elif now - self._failing_since > self.patience_s:
            raise FabroConnectionError(self.settings.unreachable(error)) from error
        delay = RECONNECT_DELAYS_S[min(self._failures, len(RECONNECT_DELAYS_S) - 1)]
        self._failures += 1
        return delay
