"""Everything the SDK decides, with no I/O, written once for both clients.

A call is a program: a generator that yields what it needs done (send a request, open a
stream, read its next line, sleep, run several programs) and receives the answer, or has the
driver's ``httpx.TransportError`` thrown in where it waited. Retries and Retry-After, paging,
reading a streamed answer, following an event stream across reconnects, waiting for a run
and cancelling many are programs here; ``fabro.client.transport`` has two thin drivers that
do the I/O, one blocking and one awaiting (the sans-I/O pattern of h11 and httpcore).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeAlias, TypeVar, cast

import httpx

from fabro.auth.client import ClientSettings
from fabro.client.calls import Call, PagedCall, StreamCall
from fabro.client.errors import FabroApiError, FabroConnectionError, api_error
from fabro.client.retry import RetryPolicy
from fabro.client.streams import STREAM_TIMEOUT, EventFollower
from fabro.events.sse import FrameParser

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Request:
    """Send one request and read its answer whole; the answer is an ``httpx.Response``."""

    call: Call[Any]


@dataclass(frozen=True)
class Open:
    """Send ``call`` and open its streamed answer (an error answer's body read); the answer
    is its ``httpx.Response``. A driver holds one stream at a time: opening another closes it."""

    call: Call[Any]
    timeout: httpx.Timeout


@dataclass(frozen=True)
class NextLine:
    """The open stream's next line, or None at its end (the driver has then closed it)."""


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Each:
    """Run each program; the answer is the list of their results, in order. A blocking
    driver runs them one after another, an awaiting one a few at a time."""

    programs: tuple[Program[Any], ...]


@dataclass(frozen=True)
class Emit(Generic[T]):
    """Hand ``value`` to the caller iterating the program (answered with None)."""

    value: T


NEXT_LINE = NextLine()
Command: TypeAlias = Request | Open | NextLine | Sleep | Each
# A program answering one value, and one handing out values as they come.
Program: TypeAlias = Generator[Command, Any, R]
Events: TypeAlias = Generator[Command | Emit[T], Any, None]


class Steps(Generic[R]):
    """Where a driver is in a program: the next command, then its answer or its error."""

    def __init__(self, program: Generator[Command | Emit[Any], Any, R]) -> None:
        self.program = program
        self.result: R | None = None
        self._answer: Any = None
        self._error: Exception | None = None

    def next(self) -> Command | Emit[Any] | None:
        """The command to carry out, or None once the program has returned (``result``)."""
        answer, error = self._answer, self._error
        self._answer = self._error = None
        try:
            return self.program.throw(error) if error else self.program.send(answer)
        except StopIteration as returned:
            self.result = returned.value
            return None

    def answer(self, answer: Any) -> None:
        self._answer = answer

    def fail(self, error: Exception) -> None:
        self._error = error

    def close(self) -> None:
        self.program.close()


def sending(call: Call[R], retry: RetryPolicy, settings: ClientSettings) -> Program[R]:
    """``call``'s decoded answer, sent again while ``retry`` allows; an error answer raises
    its ``FabroApiError``, a server out of reach ``FabroConnectionError``."""
    attempt = 0
    while True:
        try:
            response: httpx.Response = yield Request(call)
        except httpx.TransportError as exc:
            wait = retry.delay(call, attempt, None)
            if wait is None:
                raise FabroConnectionError(settings.unreachable(exc)) from exc
        else:
            if response.is_success:
                return call.decode(response)
            wait = retry.delay(call, attempt, response)
            if wait is None:
                raise api_error(response)
        yield Sleep(wait)
        attempt += 1


def paging(paged: PagedCall[T], retry: RetryPolicy, settings: ClientSettings) -> Events[T]:
    """Every item of a list, the next page fetched when the last one is used up."""
    offset: int | None = 0
    while offset is not None:
        page = yield from sending(paged.page(offset), retry, settings)
        for item in page.data:
            yield Emit(item)
        offset = paged.next_offset(page, offset)


def framing(streamed: StreamCall[T], settings: ClientSettings) -> Events[T]:
    """The frames of a streamed answer as they arrive; sent once (each try is a new call)."""
    try:
        response = yield Open(streamed.call, STREAM_TIMEOUT)
        if response.status_code >= 400:
            raise api_error(response)
        parser = FrameParser()
        while (line := (yield NEXT_LINE)) is not None:
            if (frame := parser.feed(line)) is not None:
                yield Emit(streamed.decode(frame.data))
    except httpx.TransportError as exc:
        raise FabroConnectionError(settings.unreachable(exc)) from exc


def following(follower: EventFollower[T], timeout: float | None, *, emit: bool = True) -> Events[T]:
    """The events of ``follower``'s stream over as many connections as it takes (each once,
    in order: fabro/client/streams.py); TimeoutError after ``timeout`` seconds in all.
    ``emit=False``: follow to the end, handing nothing out."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while not follower.done:
        limit = _remaining(deadline)
        try:
            response = yield Open(Call("GET", follower.path, headers=follower.headers()), limit)
            if response.status_code >= 400:
                follower.refused(response)
                continue
            follower.opened()
            while (line := (yield NEXT_LINE)) is not None:
                if (event := follower.line(line)) is not None and emit:
                    yield Emit(event)
                # An idle stream's keep-alive comments (every 15 s) reset the read timeout:
                # the deadline is checked at each line too.
                if deadline is not None and time.monotonic() >= deadline and not follower.done:
                    raise TimeoutError("the run did not end in time")
        except httpx.TransportError as exc:
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError("the run did not end in time") from exc
            yield Sleep(follower.broken(exc))


def waiting(follower: EventFollower[Any], timeout: float | None, then: Program[R]) -> Program[R]:
    """``then``'s result once ``follower``'s stream has no more events."""
    yield from cast(Program[None], following(follower, timeout, emit=False))  # emits nothing
    return (yield from then)


def each_kept(
    keys: Iterable[str], program: Callable[[str], Program[R]]
) -> Program[dict[str, R | FabroApiError]]:
    """``program`` of each distinct key (a repeated key is one call): its result, or the
    ``FabroApiError`` it raised, so that one refusal stops none of the others."""
    distinct = list(dict.fromkeys(keys))
    results = yield Each(tuple(_kept(program(key)) for key in distinct))
    return dict(zip(distinct, results, strict=True))


def _kept(program: Program[R]) -> Program[R | FabroApiError]:
    try:
        return (yield from program)
    except FabroApiError as refused:
        return refused


def _remaining(deadline: float | None) -> httpx.Timeout:
    """The stream's timeouts, its reads cut short by what is left of ``deadline``."""
    if deadline is None:
        return STREAM_TIMEOUT
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the run did not end in time")
    return httpx.Timeout(min(10.0, left), read=min(60.0, left))
