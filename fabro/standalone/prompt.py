"""Human gates in `fabro run` (cli.md §2): asked at the terminal, or answered from a pipe.

At a terminal the question is asked on stderr until a valid answer is typed. When stdin is
not a terminal, each gate takes the next line of stdin (`echo Y | fabro run flow.dot`).
Either way, end of input, or a piped line that names no option, leaves the gate unanswered,
and an unanswered gate fails closed (engine.md §9.4).
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from collections.abc import Callable
from typing import TextIO

from fabro.engine.offload import off_loop
from fabro.engine.questions import TIMED_OUT, Answer, NoAnswer, QuestionDesk, matching_key
from fabro.storage.questions import QuestionRecord

STDIN_CLOSED = NoAnswer("stdin closed")
_CHUNK = 4096
MAX_LINE = 65_536  # bytes; a longer line is cut there, so no input grows the buffer for ever


def match_answer(question: QuestionRecord, text: str) -> Answer | None:
    """An option named by its key or label (case-insensitive); else free text when allowed."""
    key = matching_key(question.options, text)
    if key is not None:
        return Answer(selected_option_key=key)
    if question.allow_freeform and text.strip():
        return Answer(value=text.strip())
    return None


class LineReader:
    """Lines of a file descriptor, read in a daemon thread.

    Not `asyncio.to_thread` and not `sys.stdin`: `asyncio.run` joins its executor's threads on
    the way out, and a thread blocked in `sys.stdin.readline()` holds the buffer's lock that
    the interpreter takes at exit, so Ctrl-C at a prompt would wait for Enter. A raw `os.read`
    in a daemon thread holds nothing: the process exits at once. A read a cancelled caller
    left in flight is kept for the next call, so no typed or piped line is lost.
    """

    def __init__(self, fd: int | None) -> None:
        """Lines of ``fd``; None: an input that is already at its end."""
        self.fd = fd
        self._buffer = b""
        self._eof = fd is None
        self._pending: asyncio.Future[bytes] | None = None

    async def readline(self) -> str | None:
        """The next line without its newline; None at end of input."""
        while b"\n" not in self._buffer and not self._eof and len(self._buffer) < MAX_LINE:
            if self._pending is None:
                assert self.fd is not None  # None starts at the end of input
                read = functools.partial(os.read, self.fd, _CHUNK)
                self._pending = asyncio.ensure_future(off_loop(read))
            try:
                chunk = await asyncio.shield(self._pending)
            except OSError:
                chunk = b""  # a closed or unreadable stdin is the end of input
            self._pending = None
            self._eof = not chunk
            self._buffer += chunk
        if not self._buffer:
            return None
        cut = self._buffer.find(b"\n", 0, MAX_LINE)
        end = MAX_LINE if cut < 0 else cut + 1
        line, self._buffer = self._buffer[:end], self._buffer[end:]
        return line.decode("utf-8", errors="replace").rstrip("\r\n")


def _stdin() -> LineReader:
    # Started with stdin closed, Python has no sys.stdin, and fd 0 may since be a file fabro
    # opened itself: never read it then.
    return LineReader(None if sys.stdin is None else sys.stdin.fileno())


def _deadline(timeout_s: float | None) -> float | None:
    return None if timeout_s is None else asyncio.get_running_loop().time() + timeout_s


async def _next_line(reader: LineReader, deadline: float | None) -> str | NoAnswer | None:
    """The next line, None at end of input, or TIMED_OUT at the gate's deadline (`timeout`)."""
    try:
        async with asyncio.timeout_at(deadline):
            return await reader.readline()
    except TimeoutError:
        return TIMED_OUT


def _show(out: TextIO, question: QuestionRecord) -> None:
    out.write(f"? {question.text}\n")
    for option in question.options:
        out.write(f"  {option['label']}\n")
    if question.allow_freeform:
        out.write("  (or type an answer)\n")


def _valid_keys(question: QuestionRecord) -> str:
    return ", ".join(option["key"] for option in question.options)


class TerminalInterviewer:
    """Asks at the terminal until an option is named; end of input leaves the gate unanswered."""

    waits_for_people = True

    def __init__(
        self,
        out: TextIO | None = None,
        reader: LineReader | None = None,
        before_prompt: Callable[[], None] | None = None,
    ) -> None:
        self.out = out or sys.stderr
        self.reader = reader or _stdin()
        self.before_prompt = before_prompt or (lambda: None)

    async def ask(
        self, desk: QuestionDesk, question: QuestionRecord, timeout_s: float | None
    ) -> Answer | NoAnswer:
        if question.status == "answered" and question.answer:
            return Answer.from_json(question.answer)
        self.before_prompt()
        _show(self.out, question)
        deadline = _deadline(timeout_s)
        while True:
            self.out.write("> ")
            self.out.flush()
            line = await _next_line(self.reader, deadline)
            if isinstance(line, NoAnswer):
                self.out.write("(timed out)\n")
                return line
            if line is None:
                self.out.write("\n")
                return STDIN_CLOSED
            if not line.strip():
                continue
            answer = match_answer(question, line)
            if answer is None:
                self.out.write(f"Please answer with one of: {_valid_keys(question)}\n")
                continue
            await desk.answer(question.run_id, question.qid, answer, None)
            return answer


class PipedAnswers:
    """stdin is not a terminal: each gate takes the next line as its answer."""

    waits_for_people = False

    def __init__(self, out: TextIO | None = None, reader: LineReader | None = None) -> None:
        self.out = out or sys.stderr
        self.reader = reader or _stdin()

    async def ask(
        self, desk: QuestionDesk, question: QuestionRecord, timeout_s: float | None
    ) -> Answer | NoAnswer:
        if question.status == "answered" and question.answer:
            return Answer.from_json(question.answer)
        _show(self.out, question)
        line = await _next_line(self.reader, _deadline(timeout_s))
        if isinstance(line, NoAnswer):
            self.out.write("  no answer: timed out\n")
            return line
        if line is None:
            self.out.write(
                "  no answer: stdin is closed (pipe one line per gate, "
                "e.g. `echo Y | fabro run ...`, or use --auto-approve)\n"
            )
            return STDIN_CLOSED
        answer = match_answer(question, line)
        if answer is None:
            self.out.write(
                f"  answer '{line.strip()}' matches no option (one of: {_valid_keys(question)})\n"
            )
            return NoAnswer(f"stdin answer '{line.strip()}' matches no option")
        self.out.write(f"> {line.strip()}\n")
        await desk.answer(question.run_id, question.qid, answer, None)
        return answer


class NonInteractive:
    """stdin is a terminal but stderr is not: nowhere to ask, so the gate goes unanswered."""

    waits_for_people = False

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stderr

    async def ask(
        self, desk: QuestionDesk, question: QuestionRecord, timeout_s: float | None
    ) -> Answer | NoAnswer:
        self.out.write(
            f"Human input needed for '{question.text}' but stderr is not a terminal; "
            "pipe the answers on stdin or use --auto-approve\n"
        )
        return NoAnswer("stderr is not a terminal")
