"""The soak's checks catch what they promise to catch (bench/soak_checks.py)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from bench.soak import make_workflow
from bench.soak_checks import SeenEvent, audit_events, audit_stream, audit_witness
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
