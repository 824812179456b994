"""The SDK's programs (fabro/client/core.py) driven by hand, with no I/O at all: each test
answers the commands a program yields and checks what it asks next, as a driver would."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from fabro.auth.client import ClientSettings
from fabro.client.calls import Call
from fabro.client.core import (
    NEXT_LINE,
    Each,
    Emit,
    Open,
    Request,
    Sleep,
    each_kept,
    following,
    sending,
)
from fabro.client.errors import ConflictError, FabroConnectionError, ServiceUnavailableError
from fabro.client.retry import RetryPolicy
from fabro.client.streams import EventFollower, session_event
from fabro.client.transport import AsyncTransport

SETTINGS = ClientSettings("http://fabro.test")
RETRY = RetryPolicy(retries=2)
REQUEST = httpx.Request("GET", "http://fabro.test/x")


def answer(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    body = b'{"errors":[{"status":"%d","title":"T","detail":"D"}]}' % status
    return httpx.Response(status, headers=headers, content=body, request=REQUEST)


def test_a_busy_answer_is_sent_again_after_its_retry_after() -> None:
    call: Call[Any] = Call("GET", "/x", retry_safe=True)
    program = sending(call, RETRY, SETTINGS)
    assert next(program) == Request(call)
    assert program.send(answer(503, {"Retry-After": "2"})) == Sleep(2.0)
    assert next(program) == Request(call)
    assert isinstance(program.throw(httpx.ConnectError("refused")), Sleep)
    assert next(program) == Request(call)
    with pytest.raises(ServiceUnavailableError):  # no retry left: the last answer's error
        program.send(answer(503, {"Retry-After": "0"}))


def test_a_call_not_safe_to_repeat_is_sent_once() -> None:
    program = sending(Call("POST", "/x"), RETRY, SETTINGS)
    next(program)
    with pytest.raises(FabroConnectionError, match="cannot connect to"):
        program.throw(httpx.ReadError("lost"))


def feed(program: Any, lines: list[str]) -> list[Any]:
    """What ``program`` asks after each line of an open stream."""
    return [program.send(line) for line in lines]


def test_a_follower_reconnects_after_what_it_saw_and_ends_at_a_410() -> None:
    follower = EventFollower(SETTINGS, "/sessions/s/events", -1, session_event)
    program = following(follower, None)
    first = next(program)
    assert isinstance(first, Open) and "Last-Event-ID" not in first.call.headers
    assert program.send(answer(200)) == NEXT_LINE
    *reading, emitted = feed(program, ["id: 0", 'data: "hi"', ""])
    assert reading == [NEXT_LINE, NEXT_LINE] and isinstance(emitted, Emit)
    assert (emitted.value.seq, emitted.value.data) == (0, "hi")
    assert program.send(None) == NEXT_LINE
    assert isinstance(program.throw(httpx.ReadError("dropped")), Sleep)  # then reconnect
    again = next(program)
    assert isinstance(again, Open) and again.call.headers["Last-Event-ID"] == "0"
    assert program.send(answer(200)) == NEXT_LINE
    replayed = feed(program, ["id: 0", 'data: "hi"', ""])
    assert replayed == [NEXT_LINE] * 3  # seen before: never handed out twice
    assert isinstance(program.send(None), Open)  # the stream ended: opened again at once
    with pytest.raises(StopIteration):
        program.send(answer(410))  # nothing more to send: the end


def test_each_key_is_run_once_and_a_refusal_is_kept() -> None:
    program = each_kept(
        ["a", "a", "b"], lambda key: sending(Call("POST", f"/{key}"), RETRY, SETTINGS)
    )
    each = next(program)
    assert isinstance(each, Each) and len(each.programs) == 2
    results = []
    for sub, status in zip(each.programs, (200, 409), strict=True):
        next(sub)
        try:
            sub.send(answer(status))
        except StopIteration as returned:
            results.append(returned.value)
    with pytest.raises(StopIteration) as done:
        program.send(results)
    assert list(done.value.value) == ["a", "b"] and isinstance(done.value.value["b"], ConflictError)


def test_a_stream_kept_alive_by_comments_still_ends_at_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr("fabro.client.core.time.monotonic", lambda: clock[0])
    follower = EventFollower(SETTINGS, "/sessions/s/events", -1, session_event)
    program = following(follower, 30.0)
    assert isinstance(next(program), Open)
    assert program.send(answer(200)) == NEXT_LINE
    clock[0] += 15
    assert program.send(": keep-alive") == NEXT_LINE
    clock[0] += 15
    with pytest.raises(TimeoutError, match="did not end in time"):
        program.send(": keep-alive")  # the server is alive; the caller's 30 s are up


def test_an_async_bulk_call_that_fails_stops_the_programs_still_running() -> None:
    acted: list[str] = []

    def fails() -> Any:
        yield Sleep(0.0)
        raise FabroConnectionError("cannot connect")

    def acts() -> Any:
        yield Sleep(0.2)
        acted.append("cancel sent")  # after the caller was told the call failed

    def bulk() -> Any:
        return (yield Each((fails(), acts())))

    async def call() -> None:
        async with AsyncTransport("http://fabro.test", token="t", env={}) as transport:
            with pytest.raises(FabroConnectionError):
                await transport.run(bulk())
            await asyncio.sleep(0.4)

    asyncio.run(call())
    assert acted == []
