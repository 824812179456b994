"""Answers at the terminal and from a pipe (fabro.standalone.prompt), on real pipes."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from fabro.engine.questions import TIMED_OUT, Answer, NoAnswer, QuestionDesk
from fabro.standalone.prompt import (
    MAX_LINE,
    LineReader,
    PipedAnswers,
    TerminalInterviewer,
    match_answer,
)
from fabro.storage.questions import QuestionRecord

OPTIONS = [{"key": "Y", "label": "[Y] Yes"}, {"key": "N", "label": "N) No"}]


def question(*, allow_freeform: bool = False, status: str = "pending") -> QuestionRecord:
    return QuestionRecord(
        run_id="r",
        qid="q-1",
        n=1,
        stage_id="gate",
        node_id="gate",
        text="Ship it?",
        question_type="multiple_choice",
        options=OPTIONS,
        allow_freeform=allow_freeform,
        status=status,
        created_at="2026-01-01T00:00:00.000Z",
    )


@pytest.mark.parametrize(
    ("text", "freeform", "expected"),
    [
        ("Y", False, Answer(selected_option_key="Y")),
        (" y \n", False, Answer(selected_option_key="Y")),
        ("n) no", False, Answer(selected_option_key="N")),
        ("No", False, Answer(selected_option_key="N")),  # the label without its accelerator
        ("maybe", False, None),
        ("", False, None),
        ("maybe", True, Answer(value="maybe")),
        ("  ", True, None),
    ],
)
def test_match_answer(text: str, freeform: bool, expected: Answer | None) -> None:
    assert match_answer(question(allow_freeform=freeform), text) == expected


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read, write = os.pipe()
    yield read, write
    for fd in (read, write):
        try:
            os.close(fd)
        except OSError:
            pass


class _Desk(QuestionDesk):
    """Records answers instead of storing them (the readers are what is tested here)."""

    def __init__(self) -> None:
        self.answers: list[Answer] = []

    async def answer(self, run_id: str, qid: str, answer: Answer, by: str | None) -> bool:
        self.answers.append(answer)
        return True


@pytest.fixture
def desk() -> _Desk:
    return _Desk()


async def test_lines_come_one_at_a_time_and_none_at_end(pipe: tuple[int, int]) -> None:
    read, write = pipe
    os.write(write, b"Y\r\nN\nlast")
    os.close(write)
    reader = LineReader(read)
    assert [await reader.readline() for _ in range(4)] == ["Y", "N", "last", None]


async def test_a_line_longer_than_the_limit_is_cut(tmp_path: Path) -> None:
    answers = tmp_path / "answers"  # stdin redirected from a file: `fabro run ... < answers`
    answers.write_bytes(b"x" * (MAX_LINE + 10) + b"\nY\n")
    fd = os.open(answers, os.O_RDONLY)
    try:
        reader = LineReader(fd)
        assert [len(await reader.readline() or "") for _ in range(2)] == [MAX_LINE, 10]
        assert [await reader.readline(), await reader.readline()] == ["Y", None]
    finally:
        os.close(fd)


async def test_no_descriptor_is_an_input_at_its_end() -> None:
    assert await LineReader(None).readline() is None


async def test_a_cancelled_read_loses_no_line(pipe: tuple[int, int]) -> None:
    read, write = pipe
    reader = LineReader(read)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await reader.readline()
    os.write(write, b"typed later\n")
    assert await asyncio.wait_for(reader.readline(), 5) == "typed later"


async def test_piped_answers_take_one_line_per_gate(pipe: tuple[int, int], desk: _Desk) -> None:
    read, write = pipe
    os.write(write, b"y\nmaybe\n")
    os.close(write)
    out = io.StringIO()
    asker = PipedAnswers(out=out, reader=LineReader(read))
    assert await asker.ask(desk, question(), None) == Answer(selected_option_key="Y")
    assert await asker.ask(desk, question(), None) == NoAnswer(
        "stdin answer 'maybe' matches no option"
    )
    assert await asker.ask(desk, question(), None) == NoAnswer("stdin closed")
    assert desk.answers == [Answer(selected_option_key="Y")]
    text = out.getvalue()
    assert "answer 'maybe' matches no option (one of: Y, N)" in text
    assert "stdin is closed" in text


async def test_piped_answers_time_out_with_the_gate(pipe: tuple[int, int], desk: _Desk) -> None:
    asker = PipedAnswers(out=io.StringIO(), reader=LineReader(pipe[0]))
    assert await asker.ask(desk, question(), 0.05) == TIMED_OUT


async def test_the_terminal_asks_again_until_an_option_is_named(
    pipe: tuple[int, int], desk: _Desk
) -> None:
    read, write = pipe
    os.write(write, b"\nmaybe\nn\n")
    out = io.StringIO()
    asker = TerminalInterviewer(out=out, reader=LineReader(read))
    assert await asker.ask(desk, question(), None) == Answer(selected_option_key="N")
    assert out.getvalue().count("> ") == 3
    assert "Please answer with one of: Y, N" in out.getvalue()
    os.close(write)
    assert await asker.ask(desk, question(), None) == NoAnswer("stdin closed")


async def test_a_stored_answer_is_reused_without_reading(desk: _Desk) -> None:
    answered = replace(question(status="answered"), answer={"selected_option_key": "N"})
    never = LineReader(-1)  # reading it would fail
    for asker in (PipedAnswers(io.StringIO(), never), TerminalInterviewer(io.StringIO(), never)):
        assert await asker.ask(desk, answered, None) == Answer(selected_option_key="N")
