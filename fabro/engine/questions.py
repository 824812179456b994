"""Human-gate questions: stored first, then waited on; answers are stored before anyone wakes.

The ``QuestionDesk`` owns the questions of one store: it creates (or, after recovery,
reuses) a stage's question, records answers only while the question is pending so two
concurrent answers cannot both win, and wakes the waiting stage only after the answer is
committed. Where the answer comes from is an ``Interviewer``: the HTTP API (the server
waits), the terminal, or ``--auto-approve``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from fabro.clock import SYSTEM_CLOCK, Clock, now_ts
from fabro.storage.questions import QuestionRecord
from fabro.storage.store import Store, Tx, Write
from fabro.workflow.labels import normalize_label

MULTIPLE_CHOICE = "multiple_choice"  # the question type of every human gate (engine.md §9.4)
# Commits a write together with the events that announce it (the run recorder's commit).
Announce = Callable[[Write[None]], Awaitable[object]]


@dataclass(frozen=True)
class Answer:
    """An answer as submitted (api.md §6.10); exactly one form is used, by precedence."""

    value: str | None = None
    selected_option_key: str | None = None
    selected_option_keys: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.selected_option_key is not None:
            data["selected_option_key"] = self.selected_option_key
        if self.selected_option_keys:
            data["selected_option_keys"] = list(self.selected_option_keys)
        if self.value is not None:
            data["value"] = self.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Answer:
        return cls(
            value=data.get("value"),
            selected_option_key=data.get("selected_option_key"),
            selected_option_keys=tuple(data.get("selected_option_keys") or ()),
        )

    @property
    def text(self) -> str:
        """The text form used in `InterviewCompleted.answer`."""
        if self.selected_option_key is not None:
            return self.selected_option_key
        if self.selected_option_keys:
            return ", ".join(self.selected_option_keys)
        return self.value or ""


def matching_key(options: Sequence[Mapping[str, str]], text: str) -> str | None:
    """The key of the option ``text`` names: its key, its label, or its label without the
    accelerator (`yes` for `[Y] Yes`), all case-insensitive; None when it names none."""
    wanted = text.strip().lower()
    if not wanted:
        return None
    for match in (
        lambda option: option["key"].lower() == wanted,
        lambda option: option["label"].strip().lower() == wanted,
        lambda option: normalize_label(option["label"]) == wanted,
    ):
        found = next((option["key"] for option in options if match(option)), None)
        if found is not None:
            return found
    return None


class QuestionDesk:
    """Stored questions of one store and the in-process waiters for their answers."""

    def __init__(self, store: Store, clock: Clock = SYSTEM_CLOCK) -> None:
        self.store = store
        self.clock = clock
        self._waiters: dict[tuple[str, str], asyncio.Event] = {}

    async def open(
        self,
        *,
        run_id: str,
        stage_id: str,
        node_id: str,
        text: str,
        options: list[dict[str, str]],
        allow_freeform: bool,
        announce: Announce | None = None,
    ) -> tuple[QuestionRecord, bool]:
        """The stage's question: reused after recovery when it exists and is not closed.

        A new question is stored through ``announce`` when given: the run recorder's commit,
        which stores the question's `InterviewStarted` in the same transaction. Separate
        commits let a crash between them leave a question that the re-run stage reuses but
        no event ever announced. Returns (question, created).
        """
        # Only this stage creates its question, so reading first cannot race another writer.
        # A stage id repeats only when an interrupted stage re-runs after recovery.
        existing = await self.store.latest_question(run_id, stage_id)
        if existing is not None and existing.status in ("pending", "answered"):
            return existing, False
        create = self.store.create_question(
            run_id=run_id,
            stage_id=stage_id,
            node_id=node_id,
            text=text,
            question_type=MULTIPLE_CHOICE,
            options=options,
            allow_freeform=allow_freeform,
            created_at=now_ts(self.clock),
        )
        if announce is None:
            return await self.store.commit(create), True
        created: list[QuestionRecord] = []

        def work(tx: Tx) -> None:
            created.append(create(tx))

        await announce(work)
        return created[0], True

    async def answer(self, run_id: str, qid: str, answer: Answer, by: str | None) -> bool:
        """Commit an answer if the question is pending, then wake its waiter."""
        accepted = await self.store.answer_question(
            run_id, qid, answer.to_json(), by, now_ts(self.clock)
        )
        if accepted:
            self._event(run_id, qid).set()
        return accepted

    async def wait(self, record: QuestionRecord, timeout_s: float | None) -> Answer | None:
        """The stored answer, waiting for it if needed; None on timeout."""
        event = self._event(record.run_id, record.qid)
        try:
            while True:
                # Clear before reading: an answer that lands during the read still wakes us.
                event.clear()
                current = await self.store.get_question(record.run_id, record.qid)
                if current is not None and current.status == "answered" and current.answer:
                    return Answer.from_json(current.answer)
                if current is None or current.status != "pending":
                    return None
                try:
                    # Re-check the store now and then: another process (a second server on the
                    # same data dir) may have answered without waking us.
                    async with asyncio.timeout(min(timeout_s or 5.0, 5.0)):
                        await event.wait()
                except TimeoutError:
                    if timeout_s is not None:
                        timeout_s -= 5.0
                        if timeout_s <= 0:
                            return None
        finally:
            self._waiters.pop((record.run_id, record.qid), None)

    async def close(self, record: QuestionRecord, status: str) -> None:
        """Expire or withdraw a question that is still pending."""
        await self.store.close_question(record.run_id, record.qid, status, now_ts(self.clock))
        self._event(record.run_id, record.qid).set()

    def _event(self, run_id: str, qid: str) -> asyncio.Event:
        return self._waiters.setdefault((run_id, qid), asyncio.Event())


@dataclass(frozen=True)
class NoAnswer:
    """Why a gate got no answer (`stdin closed`, ...). A gate without an answer fails closed
    (engine.md §9.4); only a timeout may still take the gate's `human.default_choice`."""

    reason: str
    timed_out: bool = False


TIMED_OUT = NoAnswer("timed out", timed_out=True)


class Interviewer(Protocol):
    """Where answers come from: an Answer, or why there is none."""

    async def ask(
        self, desk: QuestionDesk, question: QuestionRecord, timeout_s: float | None
    ) -> Answer | NoAnswer: ...

    @property
    def waits_for_people(self) -> bool:
        """True when answering takes a person's time (the stall watchdog is suspended)."""
        ...


class StoredAnswers:
    """The server's interviewer: answers arrive over HTTP and are read from the store."""

    waits_for_people = True

    async def ask(
        self, desk: QuestionDesk, question: QuestionRecord, timeout_s: float | None
    ) -> Answer | NoAnswer:
        answer = await desk.wait(question, timeout_s)
        return TIMED_OUT if answer is None else answer


class AutoApprove:
    """`--auto-approve`: the first option (free text `auto-approved` when there is none)."""

    waits_for_people = False

    async def ask(
        self, desk: QuestionDesk, question: QuestionRecord, timeout_s: float | None
    ) -> Answer | NoAnswer:
        if question.status == "answered" and question.answer:
            return Answer.from_json(question.answer)
        if question.options:
            answer = Answer(selected_option_key=question.options[0]["key"])
        else:
            answer = Answer(value="auto-approved")
        await desk.answer(question.run_id, question.qid, answer, "auto-approve")
        return answer
