"""The soak's checks catch what they promise to catch (bench/soak_checks.py)."""

from __future__ import annotations

import dataclasses
import json
import random
import tomllib
from pathlib import Path
from typing import Any

import pytest

from bench import soak_server
from bench.soak import make_workflow
from bench.soak_checks import (
    SeenEvent,
    audit_events,
    audit_receipts,
    audit_stream,
    audit_witness,
)
from fabro.config_file import FileSource
from fabro.governance.actions import Subject, Verdict
from fabro.governance.describe import command_action
from fabro.governance.policy import Policy, read_policy
from fabro.storage.receipts import ReceiptRecord
from fabro.workflow.prepare import prepare


def log(*events: tuple[str, dict[str, Any]]) -> list[SeenEvent]:
    return [
        SeenEvent.parse(seq, json.dumps({variant: payload}))
        for seq, (variant, payload) in enumerate(events, start=1)
    ]


def started(node: str) -> tuple[str, dict[str, Any]]:
    return ("StageStarted", {"node_id": node})


def completed(node: str, to: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    events = [("StageCompleted", {"node_id": node})]
    if to is not None:
        events.append(("EdgeSelected", {"from_node": node, "to_node": to}))
    return events


RECOVERY = ("RunResumed", {"run_id": "r", "reason": "recovery"})
QUEUED = ("RunQueued", {"run_id": "r", "queue_position": 1})
BEGUN = ("WorkflowRunStarted", {"name": "x", "run_id": "r"})
DONE = ("WorkflowRunCompleted", {"duration_ms": 1, "artifact_count": 0})


def test_an_interrupted_stage_may_run_again_and_its_witness_twice() -> None:
    events = log(
        QUEUED,
        BEGUN,
        started("start"),
        *completed("start", "a"),
        started("a"),
        RECOVERY,
        started("a"),
        *completed("a", "exit"),
        started("exit"),
        *completed("exit"),
        DONE,
    )
    audit = audit_events(events)
    assert audit.problems == []
    assert (audit.recoveries, audit.reexecuted, audit.stage_starts["a"]) == (1, 1, 2)
    assert audit_witness(["a", "a"], audit, {"a"}) == []
    assert audit_witness(["a", "a", "a"], audit, {"a"}) == [
        "command a ran 3 times, its stage executed at most 2 times"
    ]
    assert audit_witness([], audit, {"a"}) == ["command a completed but never ran"]


def test_a_completed_stage_that_runs_again_is_caught() -> None:
    events = log(
        QUEUED,
        started("start"),
        *completed("start", "a"),
        started("a"),
        *completed("a", "b"),
        RECOVERY,
        started("a"),  # the checkpoint said b
        *completed("a", "b"),
        DONE,
    )
    problems = audit_events(events).problems
    assert any("recovery resumed at a, expected b" in p for p in problems), problems
    assert any("stage a already completed and ran again" in p for p in problems), problems
    audit = audit_events(events[:7])  # up to the recovery: a ran once, its witness twice
    assert audit_witness(["a", "a"], audit, {"a"}) == [
        "command a ran 2 times, its stage executed at most 1 times"
    ]


def test_a_crash_before_stage_started_was_stored_allows_one_unrecorded_run() -> None:
    # StageStarted streams while the handler starts: a crash may beat its commit. The stage
    # re-run after recovery is the checkpoint's next node; its first run left no event.
    events = log(
        QUEUED,
        started("start"),
        *completed("start", "a"),
        RECOVERY,
        started("a"),
        *completed("a", "exit"),
        DONE,
    )
    audit = audit_events(events)
    assert audit.problems == []
    assert (audit.unrecorded["a"], audit.runs_allowed("a")) == (1, 2)
    assert audit_witness(["a", "a"], audit, {"a"}) == []
    assert audit.runs_unrecorded(["a", "a"]) == 1
    assert audit_witness(["b", "a"], audit, {"a", "b"}) == [  # b was no stage of this run
        "command b ran 1 times, its stage executed at most 0 times"
    ]
    branches = log(
        QUEUED,
        started("par"),
        ("ParallelBranchStarted", {"branch": "b1", "index": 0}),
        ("ParallelBranchCompleted", {"branch": "b1", "index": 0, "status": "success"}),
        *completed("par", "join"),
        DONE,
    )
    audit = audit_events(branches)
    assert audit.runs_allowed("b1") == 1
    assert audit_witness(["b1", "b1"], audit, {"b1"}) == [
        "command b1 ran 2 times, its stage executed at most 1 times"
    ]


def test_branches_rerun_only_with_their_interrupted_parallel_stage() -> None:
    branch = ("ParallelBranchStarted", {"branch": "b1", "index": 0})
    branch_done = ("ParallelBranchCompleted", {"branch": "b1", "index": 0, "status": "success"})
    ok = log(QUEUED, started("par"), branch, branch_done, RECOVERY, started("par"), branch,
             branch_done, *completed("par", "join"), DONE)  # fmt: skip
    assert audit_events(ok).problems == []
    twice = log(QUEUED, started("par"), branch, branch_done, branch, branch_done,
                *completed("par", "join"), DONE)  # fmt: skip
    assert audit_events(twice).problems == [
        "branch b1 started 2, completed 2 times; its parallel stage was interrupted 0 times"
    ]


def test_gaps_duplicates_and_a_missing_terminal_event_are_caught() -> None:
    events = log(QUEUED, started("start"), *completed("start"), DONE)
    duplicated = [*events[:2], events[1], *events[2:]]
    assert any("not 1..5" in p for p in audit_events(duplicated).problems)
    assert audit_events(events[:-1]).problems == ["terminal events [] of 3"]
    answered = log(QUEUED, started("gate"), ("InterviewCompleted", {"question": "?"}), DONE)
    assert "answer at gate without InterviewStarted" in audit_events(answered).problems[0]


def test_the_client_log_must_equal_the_stored_log() -> None:
    stored = log(QUEUED, BEGUN, DONE)
    assert audit_stream(stored, stored) == []
    assert audit_stream(stored[:2], stored) == ["client saw 2 events, the store has 3"]
    duplicate = [stored[0], stored[1], stored[1], stored[2]]
    assert audit_stream(duplicate, stored)[0].startswith("client saw seqs position 2 has 2")
    changed = [stored[0], SeenEvent(2, "X", {}, '{"X":{}}'), stored[2]]
    assert audit_stream(changed, stored) == ['event 2 differs from the stored one: {"X":{}}']


def test_generated_workflows_are_valid(tmp_path: Path) -> None:
    rng = random.Random(7)
    for index in range(30):
        workflow = make_workflow(rng, tmp_path / "w.txt", f"Soak{index}")
        prepared = prepare(workflow.dot)
        assert prepared.ok, (workflow.dot, prepared.error_summary())
        assert workflow.commands <= set(prepared.graph.nodes)


# ---- receipts ---------------------------------------------------------------------------------

SCRIPTS = {"a": "sleep 0.1; echo a >> /w/run.txt", "b": "sleep 0.2; echo b >> /w/run.txt"}
RULES = soak_server.POLICY_RULES


def receipt(node: str, outcome: str | None = "applied", **changes: Any) -> ReceiptRecord:
    base = ReceiptRecord(
        id=f"R-{node}-{outcome}",
        seq=1,
        run_id="r",
        stage_id=node,
        attempt=1,
        kind="command",
        action=SCRIPTS[node],
        decision="ALLOW",
        rule="soak-sleep",
        approver=None,
        idempotency_key=f"r/{node}/1/1",
        started_at="2026-12-06T00:00:00.000Z",
        outcome=outcome,  # type: ignore[arg-type]
        exit_status=0 if outcome == "applied" else None,
    )
    return dataclasses.replace(base, **changes)


def a_then_b(interrupted: bool) -> list[SeenEvent]:
    """start, a (interrupted once by a crash when asked), b, exit."""
    crash = [started("a"), RECOVERY] if interrupted else []
    return log(
        QUEUED,
        started("start"),
        *completed("start", "a"),
        *crash,
        started("a"),
        *completed("a", "b"),
        started("b"),
        *completed("b", "exit"),
        DONE,
    )


def test_each_executed_command_has_one_applied_receipt() -> None:
    audit = audit_events(a_then_b(interrupted=False))
    assert audit_receipts([receipt("a"), receipt("b")], ["a", "b"], audit, SCRIPTS, RULES) == []
    problems = audit_receipts([receipt("a")], ["a", "b"], audit, SCRIPTS, RULES)
    assert problems == [
        "command b: 0 applied and 0 open receipts, 1 runs: runs must be between applied and "
        "applied + open",
        "command b: 0 applied and 0 open receipts, 1 runs: completed without an applied receipt",
    ]
    twice = [receipt("a"), receipt("a"), receipt("b")]
    assert audit_receipts(twice, ["a", "a", "b"], audit, SCRIPTS, RULES) == [
        "command a: 2 applied and 0 open receipts, 2 runs: more receipts than its 1 executions"
    ]
    unseen = audit_receipts([receipt("a"), receipt("b")], ["b"], audit, SCRIPTS, RULES)
    assert unseen == [
        "command a: 1 applied and 0 open receipts, 0 runs: runs must be between applied and "
        "applied + open"
    ]


@pytest.mark.parametrize("witnessed", [["a", "b"], ["a", "a", "b"]])
def test_a_crash_leaves_an_open_receipt_and_the_command_runs_again(witnessed: list[str]) -> None:
    # The interrupted execution may or may not have written its line before it died.
    audit = audit_events(a_then_b(interrupted=True))
    receipts = [receipt("a", None), receipt("a"), receipt("b")]
    assert audit_receipts(receipts, witnessed, audit, SCRIPTS, RULES) == []
    no_crash = audit_events(a_then_b(interrupted=False))
    assert audit_receipts(receipts, witnessed, no_crash, SCRIPTS, RULES) == [
        "command a: 1 applied and 1 open receipts, "
        f"{len(witnessed) - 1} runs: more receipts than its 1 executions"
    ]


@pytest.mark.parametrize(
    ("changes", "lacks"),
    [
        ({"action": ""}, "action '' is not its stage's script"),
        ({"action": "sleep 0.1"}, "action 'sleep 0.1' is not its stage's script"),
        ({"kind": "shell"}, "kind 'shell', not 'command'"),
        ({"rule": ""}, "decision 'ALLOW' by rule '', not a soak rule"),
        ({"decision": "ALERT"}, "decision 'ALERT' by rule 'soak-sleep', not a soak rule"),
        ({"outcome": "failed", "exit_status": 1}, "outcome 'failed' (exit status 1)"),
        ({"exit_status": 2}, "outcome 'applied' (exit status 2)"),
    ],
)
def test_a_receipt_that_lacks_its_action_or_decision_is_caught(
    changes: dict[str, Any], lacks: str
) -> None:
    audit = audit_events(a_then_b(interrupted=False))
    receipts = [receipt("a", **changes), receipt("b")]
    problems = audit_receipts(receipts, ["a", "b"], audit, SCRIPTS, RULES)
    assert any(p.startswith("receipt R-a-") and lacks in p for p in problems), problems


def test_the_soak_policy_allows_its_commands_by_its_rules_and_nothing_else(tmp_path: Path) -> None:
    document = tomllib.loads(soak_server.policy(tmp_path / "witness"))
    policy = Policy.of(read_policy(FileSource(None, document), tmp_path, {}))
    assert {rule.name for rule in policy.rules} == soak_server.POLICY_RULES
    subject = Subject("r", None, "soak", str(tmp_path / "work"))
    workflow = make_workflow(random.Random(5), tmp_path / "witness" / "run0001.txt", "Soak1")
    for script in workflow.scripts.values():
        decision = policy.decide(command_action(script, "shell"), subject)
        assert decision.verdict is Verdict.ALLOW and decision.rule in soak_server.POLICY_RULES
    for script in ("rm -rf /", "echo x >> /etc/passwd", f"sleep 1; cat {tmp_path}/secret"):
        assert policy.decide(command_action(script, "shell"), subject).verdict is Verdict.BLOCK
