"""Runs created straight through the engine for the run-internals tests, and their workflows."""

from __future__ import annotations

import asyncio
from typing import Any

from fabro.engine.lifecycle import NewRun
from fabro.services import Services
from fabro.storage import questions, runs, stages
from fabro.storage.questions import QuestionRecord
from fabro.storage.records import RunRecord
from fabro.workflow.prepare import prepare

# GATED and SLOW label their stages (the runs tests' variants do not): stage names are asserted.
GATED = """digraph Gated {
  start [shape=Mdiamond]
  approve [shape=hexagon, label="Approve Plan"]
  done [shape=parallelogram, label="Done", script="echo approved"]
  exit [shape=Msquare]
  start -> approve
  approve -> done [label="[A] Approve"]
  approve -> exit [label="[R] Reject"]
  done -> exit
}"""

SLOW = """digraph Slow {
  start [shape=Mdiamond]
  wait [shape=parallelogram, label="Wait", script="sleep 30"]
  exit [shape=Msquare]
  start -> wait -> exit
}"""

# A goal gate that fails with no retry target: the run fails when it reaches `exit`.
FAILING = """digraph Failing {
  start [shape=Mdiamond]
  boom [shape=parallelogram, script="echo broken >&2; exit 3", max_retries=0, goal_gate=true]
  exit [shape=Msquare]
  start -> boom -> exit
}"""


async def create(services: Services, dot: str, **fields: Any) -> RunRecord:
    """Store a queued run of ``dot`` the way POST /runs does; the scheduler picks it up."""
    graph = prepare(dot, goal=fields.pop("goal", None)).graph
    new = NewRun(
        graph=graph, dot_source=dot, title=fields.pop("title", "T"), goal=graph.goal, **fields
    )
    run, _ = await services.runs.create(new)
    return run


async def wait_status(
    services: Services, run_id: str, statuses: set[str], limit_s: float = 20
) -> RunRecord:
    deadline = asyncio.get_running_loop().time() + limit_s
    while True:
        run = await runs.get_run(services.db, run_id)
        assert run is not None
        if run.status in statuses:
            return run
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"run {run_id} stuck in {run.status}")
        await asyncio.sleep(0.02)


async def finished(services: Services, dot: str, **fields: Any) -> RunRecord:
    """A run of ``dot`` executed to a terminal status."""
    run = await create(services, dot, **fields)
    return await wait_status(services, run.id, {"completed", "failed", "cancelled"})


async def question(services: Services, run_id: str, limit_s: float = 20) -> QuestionRecord:
    """The run's first pending question, once its human gate has asked it."""
    deadline = asyncio.get_running_loop().time() + limit_s
    while True:
        pending = await questions.pending_questions(services.db, run_id)
        if pending:
            return pending[0]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("no question appeared")
        await asyncio.sleep(0.02)


async def command_running(services: Services, run_id: str, node_id: str = "wait") -> None:
    """Wait until ``node_id``'s command has been launched (its stage row exists, then a moment).

    The moment matters: a cancel that lands while the command handler is still starting the
    subprocess leaks its log files (a ResourceWarning, an error under filterwarnings=error).
    """
    deadline = asyncio.get_running_loop().time() + 20
    while not any(s.node_id == node_id for s in await stages.list_stages(services.db, run_id)):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"stage {node_id} never started")
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)


async def cancel(services: Services, run_id: str) -> None:
    """Cancel a run whose command is running, then let the engine task finish its cleanup.

    Shutting the services down while the command handler is still in its cleanup cancels it a
    second time, which leaks its log files (the same ResourceWarning as above).
    """
    assert await services.runs.cancel(run_id) is not None
    await asyncio.sleep(0.3)
