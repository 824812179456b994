"""Human gates at the terminal (cli.md §2): ask on stderr, read stdin, store the answer."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import TextIO

from fabro.engine.questions import Answer, NoAnswer, QuestionDesk
from fabro.storage.questions import QuestionRecord


def match_answer(question: QuestionRecord, text: str) -> Answer | None:
    """Keys first, then labels (case-insensitive); else free text when allowed."""
    wanted = text.strip().lower()
    for option in question.options:
        if option["key"].lower() == wanted:
            return Answer(selected_option_key=option["key"])
    for option in question.options:
        if option["label"].lower() == wanted:
            return Answer(selected_option_key=option["key"])
    if question.allow_freeform:
        return Answer(value=text.strip())
    return None


class TerminalInterviewer:
    """Asks at the terminal; end of input means the gate is skipped."""

    waits_for_people = True

    def __init__(
        self,
        out: TextIO | None = None,
        read_line: Callable[[], str] | None = None,
        before_prompt: Callable[[], None] | None = None,
    ) -> None:
        self.out = out or sys.stderr
        self.read_line = read_line or _read_stdin_line
        self.before_prompt = before_prompt or (lambda: None)

    async def ask(
        self, desk: QuestionDesk, question: QuestionRecord, timeout_s: float | None
    ) -> Answer | NoAnswer:
        if question.status == "answered" and question.answer:
            return Answer.from_json(question.answer)
        self.before_prompt()
        self.out.write(f"? {question.text}\n")
        for option in question.options:
            self.out.write(f"  {option['label']}\n")
        if question.allow_freeform:
            self.out.write("  (or type an answer)\n")
        while True:
            self.out.write("> ")
            self.out.flush()
            try:
                line = await asyncio.to_thread(self.read_line)
            except EOFError:
                return "skipped"
            if not line.strip():
                continue
            answer = match_answer(question, line)
            if answer is None:
                keys = ", ".join(option["key"] for option in question.options)
                self.out.write(f"Please answer with one of: {keys}\n")
                continue
            await desk.answer(question.run_id, question.qid, answer, None)
            return answer


class NonInteractive:
    """stdin is not a terminal and --auto-approve is absent: the gate is skipped."""

    waits_for_people = False

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stderr

    async def ask(
        self, desk: QuestionDesk, question: QuestionRecord, timeout_s: float | None
    ) -> Answer | NoAnswer:
        self.out.write(
            f"Human input needed for '{question.text}' but stdin is not a terminal; "
            "use --auto-approve\n"
        )
        return "skipped"


def _read_stdin_line() -> str:
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line
