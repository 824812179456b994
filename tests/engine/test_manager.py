"""Manager loop stages: a child workflow run in-process (engine.md §9.8)."""

from __future__ import annotations

import asyncio

from fabro.engine.outcome import Outcome
from fabro.engine.stage import StageRun
from fabro.events.types import Prompt
from fabro.storage import questions
from fabro.workflow.model import Node
from tests.engine.harness import ByNode, Harness, hang

CHILD_OK = (
    r"digraph Child { start [shape=Mdiamond]; w [shape=tab, prompt=\"child work\"]; "
    r"exit [shape=Msquare]; start -> w -> exit }"
)
CHILD_FAIL = (
    r"digraph Child { start [shape=Mdiamond]; c [shape=parallelogram, script=\"exit 5\"]; "
    r"exit [shape=Msquare]; start -> c }"
)


def parent(child: str, attrs: str = "", graph: str = "") -> str:
    return f"""
digraph Parent {{
  graph [goal="Parent goal"{graph}]
  start [shape=Mdiamond]
  mgr [shape=house, stack.child_dot_source="{child}", manager.poll_interval="10ms"{attrs}]
  exit [shape=Msquare]
  start -> mgr -> exit
}}
"""


async def test_child_events_go_to_the_parent_stream_one_level_down(harness: Harness) -> None:
    run, result = await harness.run(parent(CHILD_OK))
    assert result.status == "completed", result.error
    child = await harness.variants(run.id, depth=1)
    assert child[0] == "WorkflowRunStarted"
    assert child[-1] == "WorkflowRunCompleted"
    assert child.count("StageStarted") == 3  # start, w, exit
    started = (await harness.of(run.id, "WorkflowRunStarted", depth=1))[0]
    assert started == {"name": "Child", "run_id": f"{run.id}_child_mgr"}
    parent_events = await harness.variants(run.id, depth=0)
    assert parent_events[-1] == "WorkflowRunCompleted"
    assert parent_events.count("WorkflowRunCompleted") == 1
    assert [e["node_id"] for e in await harness.of(run.id, "StageStarted")] == [
        "start",
        "mgr",
        "exit",
    ]
    # The manager stage takes the child's last outcome and its changed, non-internal context.
    ctx = (await harness.checkpoint(run.id))["context_values"]
    assert ctx["response.w"] == "[Simulated] Response for stage: w"
    assert ctx["last_stage"] == "w"
    completed = [e for e in await harness.of(run.id, "StageCompleted") if e["node_id"] == "mgr"]
    assert completed[0]["status"] == "success"
    assert completed[0]["notes"] == "Child workflow completed"
    # The child has no stage rows or checkpoint of its own.
    assert [s.stage_id for s in await harness.stages(run.id)] == ["start", "mgr", "exit"]


async def test_child_sees_the_parent_context_and_preamble(harness: Harness) -> None:
    run, result = await harness.run(parent(CHILD_OK))
    assert result.status == "completed"
    prompt = (await harness.of(run.id, "Prompt", depth=1))[0]["text"]
    assert prompt.startswith("## Parent workflow context\nGoal: Parent goal")
    assert "## Current sub-workflow" in prompt
    assert prompt.endswith("child work")


async def test_child_failure_fails_the_manager_stage(harness: Harness) -> None:
    run, result = await harness.run(parent(CHILD_FAIL))
    failed = [e for e in await harness.of(run.id, "StageFailed") if e["node_id"] == "mgr"]
    assert failed[0]["failure"]["message"] == (
        "Child engine error: stage c failed with no outgoing fail edge"
    )
    assert (await harness.variants(run.id, depth=1))[-1] == "WorkflowRunFailed"
    assert result.status == "completed"  # the failed manager stage follows its edge


async def test_child_parse_errors_fail_the_stage(harness: Harness) -> None:
    run, _ = await harness.run(parent("digraph { oops"))
    failed = [e for e in await harness.of(run.id, "StageFailed") if e["node_id"] == "mgr"]
    assert failed[0]["failure"]["message"].startswith(
        "Failed to parse child pipeline: Parse error: "
    )
    assert await harness.variants(run.id, depth=1) == []


async def test_max_cycles_cancels_the_child(harness: Harness) -> None:
    handlers = ByNode(w=hang)
    run, _ = await asyncio.wait_for(
        harness.run(parent(CHILD_OK, ", manager.max_cycles=3"), handlers=handlers.handlers), 10
    )
    failed = [e for e in await harness.of(run.id, "StageFailed") if e["node_id"] == "mgr"]
    assert failed[0]["failure"]["message"] == "Max cycles (3) exceeded"
    assert handlers.calls.count("w") == 1
    assert "WorkflowRunCompleted" not in await harness.variants(run.id, depth=1)


async def test_stop_condition_stops_the_child_with_success(harness: Harness) -> None:
    handlers = ByNode(w=hang)
    run, result = await asyncio.wait_for(
        harness.run(
            parent(CHILD_OK, ', manager.stop_condition="graph.mode=stop"', graph=', mode="stop"'),
            handlers=handlers.handlers,
        ),
        10,
    )
    assert result.status == "completed"
    completed = [e for e in await harness.of(run.id, "StageCompleted") if e["node_id"] == "mgr"]
    assert completed[0]["notes"] == "Stop condition met; child workflow stopped"


async def test_child_activity_counts_for_the_parent_stall_watchdog(harness: Harness) -> None:
    async def chatty(node: Node, stage: StageRun) -> Outcome:
        for _ in range(10):
            await asyncio.sleep(0.05)
            await stage.emit(Prompt(stage=node.id, text="still working"))
        return Outcome.success()

    run, result = await asyncio.wait_for(
        harness.run(
            parent(CHILD_OK, graph=', stall_timeout="250ms"'), handlers=ByNode(w=chatty).handlers
        ),
        10,
    )
    assert result.status == "completed", result.error
    assert "StallWatchdogTimeout" not in await harness.variants(run.id, depth=None)


CHILD_GATE = (
    r"digraph Child { start [shape=Mdiamond]; g [shape=hexagon, label=\"Child asks\"]; "
    r"exit [shape=Msquare]; start -> g; g -> exit [label=\"Yes\"] }"
)


async def test_a_human_gate_in_the_child_asks_through_the_parent_run(harness: Harness) -> None:
    run, result = await harness.run(parent(CHILD_GATE))
    assert result.status == "completed", result.error
    completed = [
        e for e in await harness.of(run.id, "StageCompleted", depth=1) if e["node_id"] == "g"
    ]
    assert completed[0]["status"] == "success", await harness.of(run.id, "StageFailed", depth=1)
    assert (await harness.of(run.id, "InterviewStarted", depth=1))[0]["question"] == "Child asks"
    question = await questions.get_question(harness.db, run.id, "q-1")
    assert question is not None and question.status == "answered"
    assert question.stage_id == f"{run.id}_child_mgr:g"
