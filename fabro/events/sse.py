"""Server-sent events: encoding frames for the SSE routes and reading them back in the client.

The parser follows the WHATWG event-stream rules that matter to fabro: ``field: value`` lines
(one optional space after the colon), comments starting with ``:``, several ``data`` lines joined
by newlines, a blank line ending a frame, and frames without data not dispatched.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from fabro.events.bus import SubscriberOverflow, Subscription

T = TypeVar("T")

KEEP_ALIVE = b": keep-alive\n\n"
KEEP_ALIVE_S = 15.0  # an idle stream's comment every this often keeps proxies from closing it

# SSE treats CR, LF and CRLF alike as line ends, so each of them starts a new data line.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def frame(data: str, *, id: int | None = None, event: str | None = None) -> bytes:
    """One SSE frame: ``id:``, ``event:``, then one ``data:`` line per line of ``data``."""
    lines = []
    if id is not None:
        lines.append(f"id: {id}")
    if event is not None:
        if _LINE_BREAK.search(event):
            raise ValueError("SSE event name must not contain a line break")
        lines.append(f"event: {event}")
    lines.extend(f"data: {line}" for line in _LINE_BREAK.split(data))
    return ("\n".join(lines) + "\n\n").encode()


def comment(text: str) -> bytes:
    """A comment frame, ignored by clients; ``comment("keep-alive")`` is the keep-alive."""
    return "".join(f": {line}\n" for line in _LINE_BREAK.split(text)).encode() + b"\n"


async def bursts(subscription: Subscription[T], keep_alive_s: float) -> AsyncIterator[list[T]]:
    """A live stream's messages: each burst is the next one with those queued behind it; an
    empty burst when ``keep_alive_s`` pass without one (time for a keep-alive comment). Ends
    when the bus ends the subscription or drops it for falling behind (the client reconnects
    and replays from the store)."""
    while True:
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for wraps every call in a new
            # task, most of the cost of fanning one event out to many subscribers.
            async with asyncio.timeout(keep_alive_s):
                message = await anext(subscription)
        except TimeoutError:
            yield []
            continue
        except (StopAsyncIteration, SubscriberOverflow):
            return
        yield [message.payload, *(queued.payload for queued in subscription.ready())]


@dataclass(frozen=True)
class Frame:
    """One dispatched frame; ``event`` is None for the default ``message`` type."""

    data: str
    id: str | None = None
    event: str | None = None

    @property
    def seq(self) -> int | None:
        """The id as an integer, as fabro sends it (None when absent or not a number)."""
        if self.id is None or not self.id.isdigit():
            return None
        return int(self.id)


class FrameParser:
    """Incremental parser: feed it lines (without their line end), get frames as they complete."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._id: str | None = None
        self._event: str | None = None
        self._first = True

    def feed(self, line: str) -> Frame | None:
        """Take one line; return the frame it completes, if any."""
        line = line.rstrip("\r\n")
        if self._first:
            self._first = False
            line = line.removeprefix("\ufeff")  # a byte order mark may open the stream
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        # "retry" and unknown fields are ignored.
        return None

    def _dispatch(self) -> Frame | None:
        data, id, event = self._data, self._id, self._event
        self._data, self._id, self._event = [], None, None
        if not data:
            return None
        return Frame(data="\n".join(data), id=id, event=event)


def parse_stream(lines: Iterable[str]) -> Iterator[Frame]:
    """The frames of a stream given line by line; an unfinished last frame is dropped."""
    parser = FrameParser()
    for line in lines:
        parsed = parser.feed(line)
        if parsed is not None:
            yield parsed


async def aparse_stream(lines: AsyncIterable[str]) -> AsyncIterator[Frame]:
    """``parse_stream`` for an async line source such as ``httpx.Response.aiter_lines()``."""
    parser = FrameParser()
    async for line in lines:
        parsed = parser.feed(line)
        if parsed is not None:
            yield parsed


def split_lines(body: bytes | str) -> list[str]:
    """A raw stream body cut into lines, for feeding ``parse_stream`` in tests."""
    text = body.decode() if isinstance(body, bytes) else body
    return _LINE_BREAK.split(text)
