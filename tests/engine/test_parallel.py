"""Parallel stages and fan-in (engine.md §9.5, §9.6) through the real engine."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest

from fabro.engine.outcome import Outcome
from fabro.engine.stage import StageRun
from fabro.workflow.model import Node
from tests.engine.harness import ByNode, FrozenClock, Harness, hang, sequence


def fan(attrs: str = "", branches: str = "b1 b2 b3", after: str = "join") -> str:
    names = branches.split()
    lines = "\n".join(
        f'  {b} [shape=tab, prompt="{b}"]\n  par -> {b}\n  {b} -> {after}' for b in names
    )
    return f"""
digraph P {{
  start [shape=Mdiamond]
  par [shape=component{attrs}]
  join [shape=tripleoctagon]
  exit [shape=Msquare]
  start -> par
{lines}
  join -> exit
}}
"""


PAR = """
digraph P {
  start [shape=Mdiamond]
  par [shape=component ATTRS]
  b1 [shape=tab, prompt="one"]
  b2 [shape=tab, prompt="two"]
  b3 [shape=parallelogram, script="echo three"]
  join [shape=tripleoctagon]
  exit [shape=Msquare]
  start -> par
  par -> b1
  par -> b2
  par -> b3
  b1 -> join
  b2 -> join
  b3 -> join
  join -> exit
}
"""


def par(attrs: str = "") -> str:
    return PAR.replace("ATTRS", f", {attrs}" if attrs else "")


async def test_wait_all_runs_every_branch_once_and_jumps_to_the_fan_in(harness: Harness) -> None:
    run, result = await harness.run(par())
    assert result.status == "completed", result.error
    started = [e["node_id"] for e in await harness.of(run.id, "StageStarted")]
    assert started == ["start", "par", "join", "exit"]  # branches are not engine stages
    assert await harness.of(run.id, "ParallelStarted") == [
        {"branch_count": 3, "join_policy": "wait_all", "error_policy": "continue"}
    ]
    assert sorted(e["branch"] for e in await harness.of(run.id, "ParallelBranchStarted")) == [
        "b1",
        "b2",
        "b3",
    ]
    branch_done = {e["branch"]: e for e in await harness.of(run.id, "ParallelBranchCompleted")}
    assert {b: e["status"] for b, e in branch_done.items()} == {
        "b1": "success",
        "b2": "success",
        "b3": "success",
    }
    assert {b: e["index"] for b, e in branch_done.items()} == {"b1": 0, "b2": 1, "b3": 2}
    completed = await harness.of(run.id, "ParallelCompleted")
    assert (completed[0]["success_count"], completed[0]["failure_count"]) == (3, 0)
    assert {
        "from_node": "par",
        "to_node": "join",
        "label": None,
        "condition": None,
    } in await harness.of(run.id, "EdgeSelected")
    ctx = (await harness.checkpoint(run.id))["context_values"]
    assert ctx["parallel.branch_count"] == 3
    assert ctx["parallel.results"] == [
        {"id": "b1", "status": "success", "notes": "Stage completed: b1",
         "response": "[Simulated] Response for stage: b1"},
        {"id": "b2", "status": "success", "notes": "Stage completed: b2",
         "response": "[Simulated] Response for stage: b2"},
        {"id": "b3", "status": "success", "notes": "Script completed: echo three"},
    ]  # fmt: skip
    assert ctx["response.b1"] == "[Simulated] Response for stage: b1"
    assert ctx["response.b2"] == "[Simulated] Response for stage: b2"
    assert "command.output" not in ctx and "last_stage" not in ctx  # other updates discarded
    assert ctx["parallel.fan_in.best_id"] == "b1"
    assert ctx["parallel.fan_in.best_outcome"] == "success"
    artifact = harness.lifecycle.run_dir(run.id) / "nodes" / "par" / "parallel_results.json"
    assert json.loads(artifact.read_text()) == ctx["parallel.results"]
    rows = {s.stage_id: s for s in await harness.stages(run.id)}
    assert rows["b1"].parallel_parent == "par" and rows["b1"].status == "completed"
    assert rows["b3"].handler_type == "command"
    join = await harness.first(run.id, "StageCompleted", "join")
    assert join["notes"] == "Selected best candidate: b1"


async def test_branches_run_on_copies_of_the_context(harness: Harness) -> None:
    seen: dict[str, object] = {}

    async def mutate(node: Node, stage: StageRun) -> Outcome:
        seen[node.id] = stage.context.get("shared")
        # A read-only view: a handler cannot change the run's or another branch's context.
        with pytest.raises(TypeError):
            stage.context["shared"] = node.id  # type: ignore[index]
        return Outcome.success(context_updates={"shared": node.id, f"response.{node.id}": "r"})

    async def seed(node: Node, stage: StageRun) -> Outcome:
        return Outcome.success(context_updates={"shared": "orig"})

    handlers = ByNode(start=seed, b1=mutate, b2=mutate, b3=mutate)
    run, result = await harness.run(par(), handlers=handlers.handlers)
    assert result.status == "completed"
    assert seen == {"b1": "orig", "b2": "orig", "b3": "orig"}
    ctx = (await harness.checkpoint(run.id))["context_values"]
    assert ctx["shared"] == "orig"
    assert ctx["response.b2"] == "r"


async def test_wait_all_with_a_failed_branch_is_partial_success(harness: Harness) -> None:
    run, result = await harness.run(par().replace('script="echo three"', 'script="exit 2"'))
    assert result.status == "completed"
    par_done = await harness.first(run.id, "StageCompleted", "par")
    assert par_done["status"] == "partial_success"
    assert par_done["notes"] == "Parallel: 2/3 branches succeeded"
    results = (await harness.checkpoint(run.id))["context_values"]["parallel.results"]
    assert results[2]["status"] == "fail"
    assert results[2]["failure_reason"] == "Script failed with exit code: 2"
    assert (await harness.stage(run.id, "b3")).status == "failed"


async def test_error_policy_ignore_makes_wait_all_succeed(harness: Harness) -> None:
    run, _ = await harness.run(
        par('error_policy="ignore"').replace('script="echo three"', 'script="exit 2"')
    )
    par_done = await harness.first(run.id, "StageCompleted", "par")
    assert par_done["status"] == "success"
    completed = await harness.of(run.id, "ParallelCompleted")
    assert (completed[0]["success_count"], completed[0]["failure_count"]) == (2, 1)


async def failing(node: Node, stage: StageRun) -> Outcome:
    return Outcome.fail(f"{node.id} broke")


async def test_join_policies_through_the_engine(harness: Harness) -> None:
    cases = [
        ('join_policy="first_success"', {"b1": failing, "b2": failing}, "success"),
        ('join_policy="k_of_n(2)"', {"b1": failing}, "success"),
        ('join_policy="k_of_n(3)"', {"b1": failing}, "fail"),
        ('join_policy="quorum(0.5)"', {"b1": failing}, "success"),
        ('join_policy="quorum(0.9)"', {"b1": failing}, "fail"),
        ('join_policy="first_success"', {"b1": failing, "b2": failing, "b3": failing}, "fail"),
    ]
    for attrs, behaviours, expected in cases:
        run, result = await harness.run(par(attrs), handlers=ByNode(**behaviours).handlers)
        assert result.status == "completed", (attrs, result.error)
        closing = [
            e for e in await harness.events(run.id) if "StageCompleted" in e or "StageFailed" in e
        ]
        par_event = next(
            fields for e in closing for fields in e.values() if fields["node_id"] == "par"
        )
        status = par_event.get("status", "fail")
        assert status == expected, attrs
        if expected == "fail":
            successes = 3 - len(behaviours)
            assert (
                par_event["failure"]["message"]
                == f"Join policy not satisfied: {successes}/3 succeeded"
            )
            # No jump to the fan-in after a failed join: normal selection takes the first branch.
            edges = [
                (e["from_node"], e["to_node"]) for e in await harness.of(run.id, "EdgeSelected")
            ]
            assert ("par", "b1") in edges and ("par", "join") not in edges


async def test_fail_fast_cancels_the_other_branches(harness: Harness) -> None:
    async def quick_fail(node: Node, stage: StageRun) -> Outcome:
        await asyncio.sleep(0.02)
        return Outcome.fail("b2 broke")

    handlers = ByNode(b1=hang, b2=quick_fail, b3=hang)
    run, result = await asyncio.wait_for(
        harness.run(par('error_policy="fail_fast"'), handlers=handlers.handlers), 10
    )
    assert result.status == "completed", result.error
    assert await harness.of(run.id, "ParallelEarlyTermination") == [
        {"reason": "fail_fast_branch_failed", "completed_count": 1, "pending_count": 2}
    ]
    results = (await harness.checkpoint(run.id))["context_values"]["parallel.results"]
    assert results == [{"id": "b2", "status": "fail", "failure_reason": "b2 broke"}]
    rows = {s.stage_id: s.status for s in await harness.stages(run.id)}
    assert rows["b2"] == "failed"
    assert rows["b1"] == "cancelled" and rows["b3"] == "cancelled"


async def test_fail_fast_reports_handler_errors(harness: Harness) -> None:
    handlers = ByNode(b1=hang, b2=sequence(RuntimeError("exploded")), b3=hang)
    run, _ = await asyncio.wait_for(
        harness.run(par('error_policy="fail_fast"'), handlers=handlers.handlers), 10
    )
    early = await harness.of(run.id, "ParallelEarlyTermination")
    assert early[0]["reason"] == "fail_fast_handler_error"
    assert handlers.calls.count("b2") == 1  # branches are not retried


async def test_max_parallel_limits_concurrency(harness: Harness) -> None:
    running = 0
    peak = 0

    async def busy(node: Node, stage: StageRun) -> Outcome:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.03)
        running -= 1
        return Outcome.success()

    flow = fan(", max_parallel=2", branches="b1 b2 b3 b4 b5")
    handlers = ByNode(**{f"b{i}": busy for i in range(1, 6)})
    _, result = await harness.run(flow, handlers=handlers.handlers)
    assert result.status == "completed", result.error
    assert peak == 2
    assert sorted(c for c in handlers.calls if c.startswith("b")) == ["b1", "b2", "b3", "b4", "b5"]


async def test_no_branches_fails(harness: Harness) -> None:
    dot = """
    digraph N {
      start [shape=Mdiamond]
      exit [shape=Msquare]
      par [shape=component]
      start -> par
    }
    """
    run, result = await harness.run(dot)
    assert (await harness.of(run.id, "StageFailed"))[0]["failure"][
        "message"
    ] == "No branches for parallel node"
    assert result.error == "stage par failed with no outgoing fail edge"


async def test_no_common_successor_uses_normal_edge_selection(harness: Harness) -> None:
    dot = """
    digraph N {
      start [shape=Mdiamond]
      par [shape=component]
      a [shape=tab, prompt="a"]
      b [shape=tab, prompt="b"]
      x [shape=parallelogram, script="true"]
      y [shape=parallelogram, script="true"]
      exit [shape=Msquare]
      start -> par
      par -> a
      par -> b
      a -> x
      b -> y
      x -> exit
      y -> exit
    }
    """
    run, result = await harness.run(dot)
    assert result.status == "completed"
    edges = [
        (e["from_node"], e["to_node"], e["label"]) for e in await harness.of(run.id, "EdgeSelected")
    ]
    assert ("par", "a", None) in edges  # smallest target among unconditional edges


# ---- fan-in -------------------------------------------------------------------------------------


async def test_fan_in_without_results_fails(harness: Harness) -> None:
    dot = """
    digraph F {
      start [shape=Mdiamond]
      join [shape=tripleoctagon]
      exit [shape=Msquare]
      start -> join -> exit
    }
    """
    run, _ = await harness.run(dot)
    failed = await harness.of(run.id, "StageFailed")
    assert failed[0]["failure"]["message"] == "No parallel results to evaluate"


async def test_fan_in_all_candidates_failed(harness: Harness) -> None:
    handlers = ByNode(b1=failing, b2=failing, b3=failing)
    run, _ = await harness.run(par(), handlers=handlers.handlers)
    join_failed = [e for e in await harness.of(run.id, "StageFailed") if e["node_id"] == "join"]
    assert join_failed[0]["failure"]["message"] == "all candidates failed"


async def test_fan_in_prefers_success_over_partial_success(harness: Harness) -> None:
    async def partial(node: Node, stage: StageRun) -> Outcome:
        return Outcome("partial_success")

    handlers = ByNode(b1=partial, b2=failing)
    run, _ = await harness.run(par(), handlers=handlers.handlers)
    ctx = (await harness.checkpoint(run.id))["context_values"]
    assert (ctx["parallel.fan_in.best_id"], ctx["parallel.fan_in.best_outcome"]) == (
        "b3",
        "success",
    )


async def test_branch_times_come_from_the_injected_clock(harness: Harness) -> None:
    dot = fan(branches="c1 c2").replace(
        '[shape=tab, prompt="c1"]', '[shape=parallelogram, script="sleep 0.02"]'
    )
    dot = dot.replace('[shape=tab, prompt="c2"]', '[shape=parallelogram, script="sleep 0.02"]')
    deps = dataclasses.replace(harness.deps(), clock=FrozenClock())
    run, result = await harness.run(dot, deps=deps)
    assert result.status == "completed", result.error
    branches = [s for s in await harness.stages(run.id) if s.parallel_parent]
    assert sorted(s.node_id for s in branches) == ["c1", "c2"]
    for row in branches:  # each slept 20 ms of real time, none of the clock's
        assert (row.started_at, row.finished_at) == ("2030-01-02T03:04:05.006Z",) * 2
        assert row.duration_ms == 0
    assert [e["duration_ms"] for e in await harness.of(run.id, "ParallelBranchCompleted")] == [0, 0]
    assert [e["duration_ms"] for e in await harness.of(run.id, "ParallelCompleted")] == [0]
