from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from fabro.events.sse import (
    KEEP_ALIVE,
    Frame,
    FrameParser,
    aparse_stream,
    comment,
    frame,
    parse_stream,
    split_lines,
)


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        (("{}",), {}, b"data: {}\n\n"),
        (("{}",), {"id": 7}, b"id: 7\ndata: {}\n\n"),
        (("{}",), {"id": 0, "event": "done"}, b"id: 0\nevent: done\ndata: {}\n\n"),
        (("a\nb",), {}, b"data: a\ndata: b\n\n"),
        (("a\r\nb\rc",), {}, b"data: a\ndata: b\ndata: c\n\n"),
        (("",), {}, b"data: \n\n"),
        (("x\n",), {}, b"data: x\ndata: \n\n"),
        (("é ✓",), {}, "data: é ✓\n\n".encode()),
    ],
)
def test_frame(args: tuple[str], kwargs: dict[str, object], expected: bytes) -> None:
    assert frame(*args, **kwargs) == expected  # type: ignore[arg-type]


def test_run_event_frame_matches_the_spec_example() -> None:
    data = json.dumps(
        {"Prompt": {"stage": "plan", "text": "Goal: Add a /health endpoint\n\nPlan the change."}},
        separators=(",", ":"),
    )
    assert frame(data, id=8) == (
        b'id: 8\ndata: {"Prompt":{"stage":"plan","text":"Goal: Add a /health endpoint'
        b'\\n\\nPlan the change."}}\n\n'
    )


def test_session_event_frame_matches_the_spec_example() -> None:
    data = (
        '{"kind":"assistant","content":"Hi! How can I help?",'
        '"created_at":"2026-03-12T10:20:01.450Z"}'
    )
    assert frame(data, id=3, event="assistant_turn") == (
        f"id: 3\nevent: assistant_turn\ndata: {data}\n\n".encode()
    )


def test_event_names_cannot_break_the_framing() -> None:
    with pytest.raises(ValueError):
        frame("{}", event="a\nid: 9")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("keep-alive", b": keep-alive\n\n"),
        ("two\nlines", b": two\n: lines\n\n"),
    ],
)
def test_comment(text: str, expected: bytes) -> None:
    assert comment(text) == expected


def test_keep_alive_constant() -> None:
    assert comment("keep-alive") == KEEP_ALIVE


@pytest.mark.parametrize(
    ("data", "id", "event"),
    [
        ("{}", 1, None),
        ('{"a":"b\\nc"}', 12345, None),
        ("line one\nline two\n\nline four", None, None),
        ("", 0, "done"),
        ("  leading spaces kept beyond the first", 2, "content_delta"),
        (": not a comment inside data", 3, None),
    ],
)
def test_frames_round_trip_through_the_parser(data: str, id: int | None, event: str | None) -> None:
    body = comment("hello") + frame(data, id=id, event=event) + KEEP_ALIVE
    assert list(parse_stream(split_lines(body))) == [
        Frame(data=data, id=None if id is None else str(id), event=event)
    ]


def test_a_stream_of_frames_and_comments() -> None:
    body = b"".join(
        [frame('{"a":1}', id=1), KEEP_ALIVE, frame('{"a":2}', id=2), frame("x", event="ping")]
    )
    frames = list(parse_stream(split_lines(body)))
    assert [(f.seq, f.event, f.data) for f in frames] == [
        (1, None, '{"a":1}'),
        (2, None, '{"a":2}'),
        (None, "ping", "x"),
    ]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["data:no space", ""], [Frame("no space")]),
        (["data:  two spaces", ""], [Frame(" two spaces")]),
        (["data", ""], [Frame("")]),  # a field without a colon has an empty value
        (["\ufeffdata: bom", ""], [Frame("bom")]),
        (["data: crlf\r\n", "\r\n"], [Frame("crlf")]),
        (["id: 5", ""], []),  # no data: nothing is dispatched
        (["event: x", "", "data: y", ""], [Frame("y")]),  # event does not leak into the next
        (["id: 5", "", "data: y", ""], [Frame("y")]),
        (["retry: 100", "foo: bar", "data: z", ""], [Frame("z")]),
        (["id: a\0b", "data: z", ""], [Frame("z")]),  # ids with NUL are ignored
        (["data: unfinished"], []),  # the last frame never ended
        (["data: a", "data: b", "", "", "data: c", ""], [Frame("a\nb"), Frame("c")]),
    ],
)
def test_parser_edge_cases(lines: list[str], expected: list[Frame]) -> None:
    assert list(parse_stream(lines)) == expected


@pytest.mark.parametrize(
    ("id", "seq"), [("7", 7), ("0", 0), ("x", None), ("-1", None), (None, None)]
)
def test_seq(id: str | None, seq: int | None) -> None:
    assert Frame("d", id=id).seq == seq


def test_the_parser_can_be_fed_incrementally() -> None:
    parser = FrameParser()
    assert parser.feed("id: 1") is None
    assert parser.feed("data: a") is None
    assert parser.feed("") == Frame("a", id="1")
    assert parser.feed("") is None


async def test_async_parsing() -> None:
    async def lines() -> AsyncIterator[str]:
        for line in split_lines(frame("a", id=1) + KEEP_ALIVE + frame("b", id=2)):
            yield line

    assert [f async for f in aparse_stream(lines())] == [Frame("a", id="1"), Frame("b", id="2")]


def test_split_lines_accepts_text() -> None:
    assert split_lines("a\r\nb\rc\n") == ["a", "b", "c", ""]
