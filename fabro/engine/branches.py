"""Stages inside stages: parallel branches and manager child workflows (engine.md §9.5, §9.8)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from fabro.clock import now_ts
from fabro.engine.delta import StateDelta
from fabro.engine.outcome import Outcome, StageError
from fabro.engine.routing import stage_id
from fabro.engine.stage import RunSpec, StageRun
from fabro.engine.state import EngineState
from fabro.events.types import ParallelBranchCompleted, ParallelBranchStarted, WorkflowRunStarted
from fabro.storage.stages import StageFinish, StageRecord
from fabro.storage.store import RunNotActive
from fabro.workflow.model import Graph

if TYPE_CHECKING:
    from fabro.engine.runner import Engine, EngineResult


async def run_branch(
    engine: Engine, parent: StageRun, node_id: str, context: dict[str, Any], index: int
) -> Outcome:
    """Execute a branch's target node once (no retries) and store it as a stage."""
    node = engine.graph.nodes.get(node_id)
    if node is None:
        return Outcome.fail(f"node not found: {node_id}")
    visits = engine.state.node_visits.get(node_id, 0) + 1
    engine.apply(StateDelta.of(node_visits={node_id: visits}))  # a visit, with no limit
    sid = stage_id(node_id, visits)
    clock = engine.deps.clock
    await engine.recorder.emit(ParallelBranchStarted(branch=node_id, index=index))
    await engine.recorder.stage_started(
        StageRecord(
            run_id=engine.spec.run_id,
            stage_id=sid,
            node_id=node_id,
            name=node.label,
            visit=visits,
            stage_index=index,
            status="running",
            started_at=now_ts(clock),
            handler_type=node.kind,
            parallel_parent=parent.stage_id,
        ),
        None,
    )
    started = clock.monotonic()
    try:
        outcome = await engine.execute(node, sid, 1, context)
    except StageError as error:
        outcome = error.outcome()
    except asyncio.CancelledError:
        # Cancelled by `fail_fast` (or with its parallel stage): the row must not stay
        # `running`. A run cancelled by a client has closed its rows already.
        with contextlib.suppress(RunNotActive):
            await asyncio.shield(_close_cancelled(engine, sid, started))
        raise
    duration_ms = int((clock.monotonic() - started) * 1000)
    outcome = outcome.with_(duration_ms=duration_ms)
    usage = outcome.usage
    engine.spent += (usage.cost or 0.0) if usage else 0.0
    await engine.recorder.stage_finished(
        sid,
        StageFinish(
            status="failed" if outcome.status == "fail" else "completed",
            finished_at=now_ts(clock),
            duration_ms=duration_ms,
            attempts=1,
            outcome=outcome.to_json(),
            model=usage.model if usage else None,
            usage=_counts(outcome),
            cost=usage.cost if usage else None,
        ),
        [
            ParallelBranchCompleted(
                branch=node_id, index=index, duration_ms=duration_ms, status=outcome.status
            )
        ],
        None,
        None,
    )
    return outcome


async def run_child(
    engine: Engine, parent: StageRun, graph: Graph, context: dict[str, Any]
) -> EngineResult:
    """Run a child workflow in-process; its events go to the parent's stream, one level down."""
    from fabro.engine.runner import Engine

    spec = RunSpec(
        run_id=f"{engine.spec.run_id}_child_{parent.node.id}",
        graph=graph,
        run_dir=engine.spec.run_dir / "children" / parent.stage_id,
        work_dir=engine.spec.work_dir,
        workflow_dir=engine.spec.workflow_dir,
        vars=engine.spec.vars,
        llm=engine.spec.llm,
        workflow=engine.spec.workflow,
        started_by=engine.spec.started_by,
    )
    recorder = engine.recorder.child()
    child = Engine(spec, engine.deps, recorder, control=engine.control, handlers=engine.handlers)
    # One watchdog for the whole run: the child's events are activity of the parent's stage,
    # and a human wait or a sleep inside the child suspends the parent's watchdog too.
    child.watchdog = engine.watchdog
    await recorder.emit(WorkflowRunStarted(name=graph.name, run_id=spec.run_id))
    state = EngineState(context=context)
    with engine.watchdog.track(recorder):
        return await child.run(state)


async def _close_cancelled(engine: Engine, sid: str, started: float) -> None:
    clock = engine.deps.clock
    finish = StageFinish(
        status="cancelled",
        finished_at=now_ts(clock),
        duration_ms=int((clock.monotonic() - started) * 1000),
        attempts=1,
        outcome=Outcome.fail("branch cancelled", "canceled").to_json(),
    )
    await engine.recorder.stage_finished(sid, finish, [], None, None)
    await engine.recorder.settle()  # the row is closed (or the run is no longer active)


def _counts(outcome: Outcome) -> dict[str, int]:
    usage = outcome.usage
    if usage is None:
        return {}
    return {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, Exception):
        pass
