"""Human gates (engine.md §9.4) with stored questions and real answers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from fabro.engine.questions import Answer, NoAnswer, QuestionDesk, StoredAnswers
from fabro.engine.stage import EngineDeps
from fabro.storage import questions
from fabro.storage.questions import QuestionRecord
from fabro.storage.sqlite_store import SqliteStore
from tests.engine.harness import Harness

GATE = """
digraph H {{
  start [shape=Mdiamond]
  gate [shape=hexagon, label="Ship it?"{gate_attrs}]
  yes [shape=parallelogram, script="true"]
  no [shape=parallelogram, script="true"]
  other [shape=parallelogram, script="true"]
  exit [shape=Msquare]
  start -> gate
  gate -> yes [label="[Y] Yes"]
  gate -> no [label="N) No"]
  {freeform}
  yes -> exit
  no -> exit
  other -> exit
}}
"""


def gate(*, freeform: bool = False, attrs: str = "") -> str:
    edge = 'gate -> other [label="Something else", freeform=true]' if freeform else ""
    return GATE.format(freeform=edge, gate_attrs=attrs)


class Scripted:
    """Answers through the desk (stored first) with a fixed answer."""

    waits_for_people = False

    def __init__(self, answer: Answer) -> None:
        self.answer = answer

    async def ask(
        self, desk: QuestionDesk, question: QuestionRecord, timeout_s: float | None
    ) -> Answer | NoAnswer:
        assert await desk.answer(question.run_id, question.qid, self.answer, "test")
        return self.answer


async def taken(harness: Harness, run_id: str) -> list[str]:
    """The nodes that ran after the gate."""
    return [e["node_id"] for e in await harness.of(run_id, "StageStarted")][2:-1]


async def context(harness: Harness, run_id: str) -> dict[str, object]:
    values = (await harness.checkpoint(run_id))["context_values"]
    assert isinstance(values, dict)
    return values


async def test_auto_approve_takes_the_first_option(harness: Harness) -> None:
    run, result = await harness.run(gate())
    assert result.status == "completed", result.error
    assert await taken(harness, run.id) == ["yes"]
    ctx = await context(harness, run.id)
    assert ctx["human.gate.selected"] == "Y"
    assert ctx["human.gate.label"] == "[Y] Yes"
    assert ctx["preferred_label"] == "[Y] Yes"
    started = await harness.of(run.id, "InterviewStarted")
    assert started == [
        {"question": "Ship it?", "stage": "gate", "question_type": "multiple_choice"}
    ]
    completed = await harness.of(run.id, "InterviewCompleted")
    assert completed[0]["answer"] == "Y" and completed[0]["question"] == "Ship it?"
    question = await questions.get_question(harness.db, run.id, "q-1")
    assert question is not None
    assert question.status == "answered" and question.stage_id == "gate"
    assert question.options == [{"key": "Y", "label": "[Y] Yes"}, {"key": "N", "label": "N) No"}]
    assert question.allow_freeform is False


@pytest.mark.parametrize(
    ("answer", "freeform", "expected_node", "selected", "label"),
    [
        (Answer(selected_option_key="N"), False, "no", "N", "N) No"),
        (Answer(value="n"), False, "no", "N", "N) No"),
        (Answer(value="  n) NO "), False, "no", "N", "N) No"),
        (Answer(value="[y] yes"), True, "yes", "Y", "[Y] Yes"),
        (Answer(value="yes"), False, "yes", "Y", "[Y] Yes"),
        (Answer(selected_option_key="n"), False, "no", "N", "N) No"),
        (Answer(value="ship it anyway"), True, "other", "freeform", "ship it anyway"),
        (Answer(selected_option_keys=("N", "Y")), True, "other", "freeform", "N, Y"),
    ],
)
async def test_answers_map_to_options_or_free_text(
    harness: Harness, answer: Answer, freeform: bool, expected_node: str, selected: str, label: str
) -> None:
    deps = harness.deps(interviewer=Scripted(answer))
    run, result = await harness.run(gate(freeform=freeform), deps=deps)
    assert result.status == "completed", result.error
    assert await taken(harness, run.id) == [expected_node]
    ctx = await context(harness, run.id)
    assert (ctx["human.gate.selected"], ctx["human.gate.label"]) == (selected, label)
    if selected == "freeform":
        assert ctx["human.gate.text"] == label
    else:
        assert "human.gate.text" not in ctx
    assert (await harness.of(run.id, "InterviewCompleted"))[0]["answer"] == answer.text


async def test_question_is_stored_before_interview_started_is_published(harness: Harness) -> None:
    seen: list[QuestionRecord] = []
    record = await harness.create(gate(freeform=True))
    deps = harness.deps(interviewer=StoredAnswers())
    engine = await harness.engine(record, deps=deps)
    task = asyncio.create_task(engine.run())
    for _ in range(500):
        if any(e.variant == "InterviewStarted" for e in harness.published):
            break
        await asyncio.sleep(0.01)
    pending = await questions.pending_questions(harness.db, record.id)
    seen.extend(pending)
    assert [q.qid for q in seen] == ["q-1"]
    assert seen[0].allow_freeform is True
    assert await deps.desk.answer(record.id, "q-1", Answer(value="N"), "someone")
    result = await asyncio.wait_for(task, 10)
    assert result.status == "completed"
    assert await taken(harness, record.id) == ["no"]


async def test_no_options_and_no_free_text_edge_fails(harness: Harness) -> None:
    dot = """
    digraph N {
      start [shape=Mdiamond]
      exit [shape=Msquare]
      gate [shape=hexagon]
      start -> gate
    }
    """
    run, result = await harness.run(dot)
    assert result.error == "No outgoing edges for human gate"
    failed = await harness.of(run.id, "StageFailed")
    assert failed[0]["failure"]["message"] == "No outgoing edges for human gate"
    assert await harness.of(run.id, "InterviewStarted") == []


async def test_timeout_with_default_choice(harness: Harness) -> None:
    deps = harness.deps(interviewer=StoredAnswers())
    run, result = await harness.run(
        gate(attrs=', timeout="50ms", human.default_choice="no"'), deps=deps
    )
    assert result.status == "completed", result.error
    assert await taken(harness, run.id) == ["no"]
    ctx = await context(harness, run.id)
    assert (ctx["human.gate.selected"], ctx["human.gate.label"]) == ("no", "no")
    timeouts = await harness.of(run.id, "InterviewTimeout")
    assert len(timeouts) == 1 and timeouts[0]["stage"] == "gate"
    assert await harness.of(run.id, "InterviewCompleted") == []
    question = await questions.get_question(harness.db, run.id, "q-1")
    assert question is not None and question.status == "expired"


async def test_timeout_without_default_fails_closed_at_once(harness: Harness) -> None:
    deps = harness.deps(interviewer=StoredAnswers())
    run, result = await harness.run(gate(attrs=', timeout="30ms"'), deps=deps)
    assert result.status == "failed"
    assert result.error == (
        "human gate 'gate' got no answer (timed out after 0.03s with no human.default_choice)"
    )
    assert await taken(harness, run.id) == []  # no ordinary edge, not even the first
    assert len(await harness.of(run.id, "InterviewTimeout")) == 1
    assert await harness.of(run.id, "StageRetrying") == []
    assert [e["to_node"] for e in await harness.of(run.id, "EdgeSelected")] == ["gate"]


async def test_timeout_with_explicit_retries_asks_again_then_fails_closed(
    harness: Harness,
) -> None:
    deps = harness.deps(interviewer=StoredAnswers())
    run, result = await harness.run(gate(attrs=', timeout="30ms", max_retries=1'), deps=deps)
    assert result.status == "failed"
    assert result.error is not None and result.error.startswith("human gate 'gate' got no answer")
    assert await taken(harness, run.id) == []
    assert len(await harness.of(run.id, "InterviewStarted")) == 2
    assert len(await harness.of(run.id, "InterviewTimeout")) == 2
    retrying = await harness.of(run.id, "StageRetrying")
    assert [(r["node_id"], r["attempt"], r["max_attempts"]) for r in retrying] == [("gate", 2, 2)]
    failed = await harness.of(run.id, "StageFailed")
    assert [(f["node_id"], f["will_retry"]) for f in failed] == [("gate", True), ("gate", False)]
    for qid in ("q-1", "q-2"):
        question = await questions.get_question(harness.db, run.id, qid)
        assert question is not None and question.status == "expired"
    assert len(harness.sleep.delays) == 1


async def test_a_default_choice_that_is_no_edge_fails_closed(harness: Harness) -> None:
    deps = harness.deps(interviewer=StoredAnswers())
    run, result = await harness.run(
        gate(attrs=', timeout="30ms", human.default_choice="nowhere"'), deps=deps
    )
    assert result.error == (
        "human gate 'gate' got no answer "
        "(timed out after 0.03s; human.default_choice 'nowhere' is not one of its edges)"
    )
    assert await taken(harness, run.id) == []


class Unanswered:
    """An interviewer with no answer to give (stdin closed, nothing piped, ...)."""

    waits_for_people = False

    def __init__(self, reason: str = "stdin closed") -> None:
        self.reason = reason

    async def ask(
        self, desk: QuestionDesk, question: QuestionRecord, timeout_s: float | None
    ) -> Answer | NoAnswer:
        return NoAnswer(self.reason)


@pytest.mark.parametrize(
    ("deps_for", "reason"),
    [
        (lambda h: h.deps(interviewer=Unanswered()), "stdin closed"),
        (
            lambda h: h.deps(interviewer=Scripted(Answer(value="ship it anyway"))),
            "'ship it anyway' matches no option",
        ),
        (
            lambda h: h.deps(interviewer=Scripted(Answer(selected_option_keys=("N",)))),
            "'N' matches no option",
        ),
        (
            lambda h: h.deps(interviewer=Scripted(Answer(selected_option_key="Z"))),
            "'Z' matches no option",
        ),
    ],
)
async def test_a_gate_without_a_usable_answer_never_takes_an_ordinary_edge(
    harness: Harness, deps_for: Callable[[Harness], EngineDeps], reason: str
) -> None:
    run, result = await harness.run(gate(attrs=", auto_status=true"), deps=deps_for(harness))
    assert result.status == "failed"
    assert result.error == f"human gate 'gate' got no answer ({reason})"
    assert run.error_message == f"Engine error: human gate 'gate' got no answer ({reason})"
    assert await taken(harness, run.id) == []
    failed = await harness.of(run.id, "StageFailed")
    assert failed[-1]["failure"]["message"] == result.error


FAIL_ROUTES = """
digraph F {{
  start [shape=Mdiamond]
  gate [shape=hexagon, label="Ship it?"{gate_attrs}]
  yes [shape=parallelogram, script="true"]
  escalate [shape=parallelogram, script="true"]
  exit [shape=Msquare]
  start -> gate
  gate -> yes [label="[Y] Yes"]
  {fail_edge}
  yes -> exit
  escalate -> exit
}}
"""


async def test_an_unanswered_gate_follows_its_failure_edge(harness: Harness) -> None:
    dot = FAIL_ROUTES.format(gate_attrs="", fail_edge='gate -> escalate [condition="outcome=fail"]')
    run, result = await harness.run(dot, deps=harness.deps(interviewer=Unanswered()))
    assert result.status == "completed", result.error
    assert await taken(harness, run.id) == ["escalate"]
    question = await questions.get_question(harness.db, run.id, "q-1")
    assert question is not None  # the failure edge is where no answer goes, not an option
    assert question.options == [{"key": "Y", "label": "[Y] Yes"}]


async def test_an_unanswered_gate_jumps_to_its_retry_target(harness: Harness) -> None:
    dot = FAIL_ROUTES.format(gate_attrs=", retry_target=escalate", fail_edge="")
    run, result = await harness.run(dot, deps=harness.deps(interviewer=Unanswered()))
    assert result.status == "completed", result.error
    assert await taken(harness, run.id) == ["escalate"]


async def test_an_answer_committed_while_the_waiter_reads_still_wakes_it(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = await harness.create(gate())
    store = SqliteStore(harness.db)
    desk = QuestionDesk(store)
    question, _ = await desk.open(
        run_id=record.id,
        stage_id="gate",
        node_id="gate",
        text="Ship it?",
        options=[{"key": "Y", "label": "Yes"}],
        allow_freeform=False,
    )
    real_get = store.get_question
    reads = 0

    async def answered_during_first_read(run_id: str, qid: str) -> QuestionRecord | None:
        nonlocal reads
        reads += 1
        stale = await real_get(run_id, qid)  # still pending
        if reads == 1:
            assert await desk.answer(run_id, qid, Answer(selected_option_key="Y"), "alice")
        return stale

    monkeypatch.setattr(store, "get_question", answered_during_first_read)
    answer = await desk.wait(question, timeout_s=1.0)
    assert answer == Answer(selected_option_key="Y")
