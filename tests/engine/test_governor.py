"""Governance in the engine (fabro/engine/governor.py): each decision for a command stage, an
agent's shell call and a file write, with the receipt it leaves; approvals; DEDUP."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import replace
from pathlib import Path

import pytest

from fabro.engine.governor import Governor
from fabro.engine.questions import Answer, QuestionDesk, StoredAnswers
from fabro.governance.actions import Action, Decision, Subject, Verdict
from fabro.llm.provider import LlmRequest, LlmResponse, OnRetry, ToolCall
from fabro.storage import questions
from fabro.storage.questions import QuestionRecord
from fabro.storage.receipts import (
    ReceiptRecord,
    Receipts,
    ReceiptStart,
    begin_receipt,
    end_receipt,
    new_receipt_id,
    refused_receipt,
)
from fabro.storage.records import RunRecord
from tests.engine.harness import Harness


class Table:
    """A policy by action kind (what the guard asks; the policy language has its own tests)."""

    def __init__(self, **verdicts: Verdict) -> None:
        self.verdicts = verdicts
        self.subjects: list[Subject] = []

    def decide(self, action: Action, subject: Subject) -> Decision:
        self.subjects.append(subject)
        verdict = self.verdicts.get(action.kind, Verdict.ALLOW)
        return Decision(verdict, f"{action.kind}-{verdict.name.lower()}")


def governed(policy: Table) -> Governor:
    return Governor(policy=lambda: policy)


def command(script: str, attrs: str = "") -> str:
    return f"""digraph C {{
  start [shape=Mdiamond]
  cmd [shape=parallelogram, script="{script}"{attrs}]
  exit [shape=Msquare]
  start -> cmd -> exit
}}"""


AGENT = """digraph A {
  graph [default_provider="anthropic"]
  start [shape=Mdiamond]
  act [prompt="Act", llm_model="claude-sonnet-4-5"]
  exit [shape=Msquare]
  start -> act -> exit
}"""


class Agent:
    """A model that asks for a shell call and a file write once, then reads the results."""

    def __init__(self) -> None:
        self.tool_results: list[str] = []

    @property
    def simulated(self) -> bool:
        return False

    async def complete(self, request: LlmRequest, on_retry: OnRetry | None = None) -> LlmResponse:
        answered = [m for m in request.messages if m.role == "tool"]
        if not answered:
            calls = (
                ToolCall("c1", "shell", {"command": "echo made > made.txt"}),
                ToolCall("c2", "write_file", {"path": "note.txt", "content": "hi"}),
            )
            return LlmResponse(text="", model=request.model, tool_calls=calls)
        self.tool_results = [m.text for m in answered]
        return LlmResponse(text="Done.", model=request.model)


async def receipts_of(harness: Harness, run_id: str) -> list[ReceiptRecord]:
    return await Receipts(harness.db).for_run(run_id)


def work_dir(harness: Harness, run_id: str) -> Path:
    return harness.lifecycle.run_dir(run_id) / "work"


# ---- a command stage -------------------------------------------------------------------------


async def test_without_a_policy_every_command_runs_and_leaves_a_receipt(harness: Harness) -> None:
    run, result = await harness.run(command("echo hi > out.txt"))
    assert result.status == "completed", result.error
    assert (work_dir(harness, run.id) / "out.txt").read_text() == "hi\n"
    [receipt] = await receipts_of(harness, run.id)
    assert (receipt.kind, receipt.decision, receipt.rule) == ("command", "ALLOW", "")
    assert (receipt.outcome, receipt.exit_status) == ("applied", 0)
    assert receipt.action == "echo hi > out.txt" and receipt.stage_id == "cmd"
    assert receipt.idempotency_key == f"{run.id}/cmd/1/1"
    assert await harness.of(run.id, "PolicyDecision") == []  # ALLOW is not an event


async def test_a_blocked_command_never_starts_and_fails_its_stage(harness: Harness) -> None:
    deps = harness.deps(governor=governed(Table(command=Verdict.BLOCK)))
    run, _ = await harness.run(command("touch ran"), deps=deps)
    assert not (work_dir(harness, run.id) / "ran").exists()
    outcome = (await harness.checkpoint(run.id))["node_outcomes"]["cmd"]
    assert outcome["status"] == "fail"
    assert "Blocked by policy rule 'command-block'" in json.dumps(outcome)
    [receipt] = await receipts_of(harness, run.id)
    assert (receipt.decision, receipt.rule, receipt.outcome) == (
        "BLOCK",
        "command-block",
        "refused",
    )
    [event] = await harness.of(run.id, "PolicyDecision")
    assert event["decision"] == "BLOCK" and event["receipt_id"] == receipt.id


async def test_an_alert_runs_and_is_flagged(harness: Harness) -> None:
    policy = Table(command=Verdict.ALERT)
    run, result = await harness.run(command("exit 3"), deps=harness.deps(governor=governed(policy)))
    assert result.status == "completed"
    [receipt] = await receipts_of(harness, run.id)
    assert (receipt.decision, receipt.outcome, receipt.exit_status) == ("ALERT", "failed", 3)
    [event] = await harness.of(run.id, "PolicyDecision")
    assert (event["decision"], event["action"], event["stage"]) == ("ALERT", "exit 3", "cmd")
    assert policy.subjects[0].run_id == run.id and policy.subjects[0].work_dir.endswith("work")


async def test_the_receipt_is_committed_before_the_program_starts(harness: Harness) -> None:
    # The program reads the receipts table itself, over its own connection: its receipt (the
    # began entry, no end yet) must already be committed when it starts.
    script = (
        "import sqlite3; "
        f"rows = sqlite3.connect({str(harness.db.path)!r}).execute("
        "'SELECT entry FROM receipt_entries').fetchall(); "
        "open('seen.txt', 'w').write(repr(rows))"
    )
    dot = command(script.replace('"', '\\"'), ', language="python"')
    run, result = await harness.run(dot)
    assert result.status == "completed", result.error
    assert (work_dir(harness, run.id) / "seen.txt").read_text() == "[('began',)]"


# ---- approvals ---------------------------------------------------------------------------------


async def approve_when_asked(
    harness: Harness, desk: QuestionDesk, run_id: str, key: str
) -> QuestionRecord:
    for _ in range(500):
        pending = await questions.pending_questions(harness.db, run_id)
        if pending:
            assert await desk.answer(run_id, pending[0].qid, Answer(selected_option_key=key), "op")
            return pending[0]
        await asyncio.sleep(0.01)
    raise AssertionError("no question was asked")


async def test_an_approved_command_runs_with_its_approver_on_the_receipt(
    harness: Harness,
) -> None:
    deps = harness.deps(
        interviewer=StoredAnswers(), governor=governed(Table(command=Verdict.APPROVE))
    )
    record = await harness.create(command("touch ran"))
    engine = await harness.engine(record, deps=deps)
    task = asyncio.create_task(engine.run())
    question = await approve_when_asked(harness, deps.desk, record.id, "A")
    assert "touch ran" in question.text and "command-approve" in question.text
    assert [o["key"] for o in question.options] == ["A", "R"]
    assert (await asyncio.wait_for(task, 10)).status == "completed"
    assert (work_dir(harness, record.id) / "ran").exists()
    [receipt] = await receipts_of(harness, record.id)
    assert (receipt.decision, receipt.approver, receipt.outcome) == ("APPROVE", "op", "applied")


async def test_a_rejected_command_is_refused(harness: Harness) -> None:
    deps = harness.deps(
        interviewer=StoredAnswers(), governor=governed(Table(command=Verdict.APPROVE))
    )
    record = await harness.create(command("touch ran"))
    task = asyncio.create_task((await harness.engine(record, deps=deps)).run())
    await approve_when_asked(harness, deps.desk, record.id, "R")
    await asyncio.wait_for(task, 10)
    assert not (work_dir(harness, record.id) / "ran").exists()
    [receipt] = await receipts_of(harness, record.id)
    assert (receipt.decision, receipt.approver, receipt.outcome) == ("APPROVE", "op", "refused")
    outcome = (await harness.checkpoint(record.id))["node_outcomes"]["cmd"]
    assert "Refused by op" in json.dumps(outcome)


async def test_auto_approve_never_approves_a_policy_hold(harness: Harness) -> None:
    deps = harness.deps(governor=governed(Table(command=Verdict.APPROVE)))  # AutoApprove
    run, _ = await harness.run(command("touch ran"), deps=deps)
    assert not (work_dir(harness, run.id) / "ran").exists()
    [receipt] = await receipts_of(harness, run.id)
    assert receipt.outcome == "refused"


# ---- an agent's tool calls ------------------------------------------------------------------


async def test_tool_calls_are_governed_and_a_refusal_is_read_by_the_model(
    harness: Harness,
) -> None:
    agent = Agent()
    policy = Table(shell=Verdict.BLOCK, file_write=Verdict.ALERT)
    run, result = await harness.run(AGENT, deps=harness.deps(llm=agent, governor=governed(policy)))
    assert result.status == "completed", result.error  # the stage went on
    work = work_dir(harness, run.id)
    assert not (work / "made.txt").exists()
    assert (work / "note.txt").read_text() == "hi"
    refusal, written = agent.tool_results
    assert "Blocked by policy rule 'shell-block'" in refusal and "echo made" in refusal
    assert "Wrote 2 bytes" in written
    shell, write = await receipts_of(harness, run.id)
    assert (shell.kind, shell.decision, shell.outcome) == ("shell", "BLOCK", "refused")
    assert (write.kind, write.decision, write.outcome) == ("file_write", "ALERT", "applied")
    assert write.action == str(work / "note.txt") and write.result_digest is not None


# ---- not safe to repeat ----------------------------------------------------------------------


async def test_a_command_whose_receipt_shows_it_ran_is_not_run_again(harness: Harness) -> None:
    record = await harness.create(command("echo again >> log.txt", ", idempotent=false"))
    # As if the server died after the command ended and before the stage's commit.
    start = ReceiptStart(
        run_id=record.id,
        stage_id="cmd",
        attempt=1,
        kind="command",
        action="echo again >> log.txt",
        decision="ALLOW",
        rule="",
        approver=None,
        idempotency_key=f"{record.id}/cmd/1/1",
        started_at="2026-12-06T00:00:00.000Z",
    )
    await harness.db.write(begin_receipt(start))
    await harness.db.write(end_receipt(start.id, "applied", 0, None, "2026-12-06T00:00:01.000Z"))
    # ... and died again after an earlier recovery's DEDUP: that DEDUP must not hide the run.
    dedup = replace(start, id=new_receipt_id(), decision="DEDUP")
    await harness.db.write(refused_receipt(dedup, "2026-12-06T00:00:02.000Z"))
    result = await harness.execute(record)
    assert result.status == "completed", result.error
    assert not (work_dir(harness, record.id) / "log.txt").exists()
    receipts = await receipts_of(harness, record.id)
    assert [(r.decision, r.outcome) for r in receipts] == [
        ("ALLOW", "applied"),
        ("DEDUP", "refused"),
        ("DEDUP", "refused"),
    ]
    outcome = (await harness.checkpoint(record.id))["node_outcomes"]["cmd"]
    assert outcome["status"] == "success" and "Not run again" in outcome["notes"]


async def crash_during(harness: Harness, dot: str, marker: str) -> RunRecord:
    """Start ``dot`` and cancel its engine once the command wrote ``marker``: a crash."""
    record = await harness.create(dot)
    task = asyncio.create_task((await harness.engine(record)).run())
    for _ in range(500):
        if (work_dir(harness, record.id) / marker).exists():
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return record


async def test_a_command_interrupted_mid_way_asks_a_person_instead_of_running_again(
    harness: Harness,
) -> None:
    dot = command("echo once >> log.txt; sleep 30", ", idempotent=false")
    record = await crash_during(harness, dot, "log.txt")
    [receipt] = await receipts_of(harness, record.id)
    assert receipt.outcome is None  # began, never ended

    deps = harness.deps(interviewer=StoredAnswers())
    task = asyncio.create_task((await harness.resume(record, deps=deps)).run())
    question = await approve_when_asked(harness, deps.desk, record.id, "C")
    assert "how it ended is unknown" in question.text and receipt.id in question.text
    assert (await asyncio.wait_for(task, 10)).status == "completed"
    assert (work_dir(harness, record.id) / "log.txt").read_text() == "once\n"
    outcome = (await harness.checkpoint(record.id))["node_outcomes"]["cmd"]
    assert outcome["status"] == "success" and "op said it completed" in outcome["notes"]


async def test_a_person_may_say_run_it_again(harness: Harness) -> None:
    dot = command("echo once >> log.txt; sleep 0.2", ", idempotent=false")
    record = await crash_during(harness, dot, "log.txt")
    deps = harness.deps(interviewer=StoredAnswers())
    task = asyncio.create_task((await harness.resume(record, deps=deps)).run())
    await approve_when_asked(harness, deps.desk, record.id, "R")
    assert (await asyncio.wait_for(task, 10)).status == "completed"
    assert (work_dir(harness, record.id) / "log.txt").read_text() == "once\nonce\n"


async def test_a_repeatable_command_simply_runs_again(harness: Harness) -> None:
    record = await crash_during(harness, command("echo once >> log.txt; sleep 0.2"), "log.txt")
    result = await (await harness.resume(record)).run()
    assert result.status == "completed", result.error
    assert (work_dir(harness, record.id) / "log.txt").read_text() == "once\nonce\n"


class OneTool:
    """A model that makes one tool call, then ends."""

    def __init__(self, call: ToolCall) -> None:
        self.call = call
        self.results: list[str] = []

    @property
    def simulated(self) -> bool:
        return False

    async def complete(self, request: LlmRequest, on_retry: OnRetry | None = None) -> LlmResponse:
        answered = [m.text for m in request.messages if m.role == "tool"]
        if not answered:
            return LlmResponse(text="", model=request.model, tool_calls=(self.call,))
        self.results = answered
        return LlmResponse(text="Done.", model=request.model)


TOOL_CALLS = {
    "shell": ToolCall("c1", "shell", {"command": "echo made > made.txt"}),
    "file_write": ToolCall("c1", "write_file", {"path": "made.txt", "content": "made\n"}),
}


@pytest.mark.parametrize("kind", sorted(TOOL_CALLS))
@pytest.mark.parametrize(
    ("verdict", "runs", "outcome"),
    [
        (Verdict.ALLOW, True, "applied"),
        (Verdict.ALERT, True, "applied"),
        (Verdict.APPROVE, True, "applied"),  # approved by a person
        (Verdict.BLOCK, False, "refused"),
    ],
)
async def test_each_decision_for_a_tool_call_and_its_receipt(
    harness: Harness, kind: str, verdict: Verdict, runs: bool, outcome: str
) -> None:
    model = OneTool(TOOL_CALLS[kind])
    policy = Table(**{kind: verdict})
    deps = harness.deps(llm=model, interviewer=StoredAnswers(), governor=governed(policy))
    record = await harness.create(AGENT)
    task = asyncio.create_task((await harness.engine(record, deps=deps)).run())
    if verdict is Verdict.APPROVE:
        question = await approve_when_asked(harness, deps.desk, record.id, "A")
        assert f"holds this {kind} for approval" in question.text
    assert (await asyncio.wait_for(task, 10)).status == "completed"
    assert (work_dir(harness, record.id) / "made.txt").exists() is runs
    [receipt] = await receipts_of(harness, record.id)
    assert (receipt.kind, receipt.decision, receipt.outcome) == (kind, verdict.name, outcome)
    assert receipt.rule == f"{kind}-{verdict.name.lower()}"
    assert receipt.approver == ("op" if verdict is Verdict.APPROVE else None)
    [result] = model.results
    assert ("Blocked by policy" in result) is (verdict is Verdict.BLOCK)
    flagged = [e["decision"] for e in await harness.of(record.id, "PolicyDecision")]
    assert flagged == ([] if verdict is Verdict.ALLOW else [verdict.name])
