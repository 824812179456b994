"""Stage views of a run (api.md §6.12-§6.15): stages, turns, usage, retro.

The bodies are computed by plain functions of the stored stage rows; the handlers only load
them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal, cast

import msgspec
from msgspec import UNSET

from fabro.api.bodies.common import IdName, ModelRef, UsageByModel
from fabro.api.bodies.stages import (
    PaginatedRunStageList,
    PaginatedStageTurnList,
    RetroDetail,
    RetroStats,
    RunStage,
    RunUsage,
    StageRetro,
    StageStatus,
    StageTurn,
    ToolUse,
    UsageStage,
)
from fabro.api.context import Handler, services
from fabro.api.lookup import run_or_404
from fabro.api.pagination import page_params
from fabro.api.usage import money, numbers
from fabro.clock import parse_ts
from fabro.engine.routing import stage_id
from fabro.errors import NotFound
from fabro.storage.records import RunRecord
from fabro.storage.stages import StageRecord, TurnRecord
from fabro.workflow.model import Graph

SUCCESSFUL = frozenset({"success", "partial_success"})


# ---- stage status --------------------------------------------------------------------------


def stage_status(stage: StageRecord, run: RunRecord) -> str:
    """StageStatus of a stored stage (api.md §6.12)."""
    if stage.status != "running":
        return stage.status
    if run.status == "failed":
        return "failed"
    if run.is_terminal:
        # Cancelled runs close their rows themselves; a row still open under any other
        # terminal run was abandoned, which reads best as cancelled.
        return "cancelled"
    return "running"


def _duration_secs(stage: StageRecord) -> float | None:
    if stage.finished_at is None:
        return None
    if stage.duration_ms is not None:
        return stage.duration_ms / 1000
    # Rows closed by a cancel carry only timestamps.
    elapsed = parse_ts(stage.finished_at) - parse_ts(stage.started_at)
    return max(elapsed.total_seconds(), 0.0)


def stage_json(stage: StageRecord, run: RunRecord) -> RunStage:
    """The RunStage of a stored stage."""
    duration = _duration_secs(stage)
    return RunStage(
        id=stage.stage_id,
        name=stage.name,
        status=cast(StageStatus, stage_status(stage, run)),
        dot_id=stage.node_id,
        duration_secs=UNSET if duration is None else duration,
    )


async def _next_stage_id(run: RunRecord, node_id: str) -> str:
    """The stage id the next visit of ``node_id`` gets (visits counted as in the checkpoint)."""
    checkpoint = await services().store.get_checkpoint(run.id)
    visits = (checkpoint.data.get("node_visits") or {}) if checkpoint else {}
    return stage_id(node_id, int(visits.get(node_id, 0)) + 1)


async def pending_stage(
    run: RunRecord, held: str | None, records: Sequence[StageRecord]
) -> RunStage | None:
    """The `pending` entry for ``held``, the node a paused run holds before (if it is held)."""
    node = Graph.from_json(run.prepared_graph).nodes.get(held) if held else None
    if node is None:
        return None
    sid = await _next_stage_id(run, node.id)
    if any(stage.stage_id == sid for stage in records):
        return None
    return RunStage(id=sid, name=node.label, status="pending", dot_id=node.id)


# StageStarted, StageCompleted and WorkflowRunCompleted close a run that ends at a terminal node.
_TERMINAL_TAIL = 3


async def terminal_stage(run: RunRecord, records: Sequence[StageRecord]) -> RunStage | None:
    """The terminal node's stage of a completed run, which has events but no stage row.

    The engine records the exit stage only as StageStarted/StageCompleted events in the final
    commit (api.md §6.12 derives stages from those events), so it is read from the event tail.
    """
    if run.status != "completed":
        return None
    store = services().store
    last = await store.last_seq(run.id)
    graph = Graph.from_json(run.prepared_graph)
    for event in await store.events_after(run.id, max(last - _TERMINAL_TAIL, 0)):
        started = event.payload.get("StageStarted")
        if event.child_depth != 0 or started is None:
            continue
        node = graph.nodes.get(str(started["node_id"]))
        if node is None or not node.is_terminal:
            continue
        if records and records[-1].node_id == node.id:
            return None  # already a row (should the engine come to store terminal stages)
        return RunStage(
            id=await _next_stage_id(run, node.id),
            name=node.label,
            status="completed",
            dot_id=node.id,
            duration_secs=0.0,
        )
    return None


async def run_stage_list(run: RunRecord) -> list[RunStage]:
    """Every RunStage of the run in execution order, the pending one last."""
    # The hold point is read before the rows: the engine holds only after its last stage is
    # committed, so the rows read next include that stage (read after, they might not).
    held = services().runs.held_before(run.id) if run.status == "paused" else None
    records = await services().store.list_stages(run.id)
    items = [stage_json(stage, run) for stage in records]
    for extra in (await terminal_stage(run, records), await pending_stage(run, held, records)):
        if extra is not None:
            items.append(extra)
    return items


# ---- turns -----------------------------------------------------------------------------------


def turn_json(turn: TurnRecord) -> StageTurn:
    """StageTurn, discriminated by `kind`: a tool turn has its tool uses, text is optional."""
    if turn.kind == "tool":
        tools = msgspec.convert(turn.tools or [], list[ToolUse])
        return StageTurn(kind="tool", content=turn.content or UNSET, tools=tools)
    kind = cast(Literal["system", "assistant"], turn.kind)
    return StageTurn(kind=kind, content=turn.content or "")


# ---- usage -----------------------------------------------------------------------------------


def _by_model(used: Iterable[StageRecord]) -> list[UsageByModel]:
    groups: dict[str, list[StageRecord]] = {}
    for stage in used:
        groups.setdefault(stage.model or "", []).append(stage)
    return [
        UsageByModel(
            model=ModelRef(id=model),
            stages=len(group),
            usage=numbers(
                sum(s.input_tokens for s in group),
                sum(s.output_tokens for s in group),
                sum((s.cost or 0.0 for s in group), 0.0),
            ),
        )
        for model, group in sorted(groups.items())
    ]


def run_usage(records: Sequence[StageRecord]) -> RunUsage:
    """RunUsage from the stage rows that carry usage (a model); unknown costs count as 0."""
    used = [stage for stage in records if stage.model is not None]
    items = [
        UsageStage(
            stage=IdName(id=stage.stage_id, name=stage.name),
            model=ModelRef(id=stage.model or ""),
            usage=numbers(stage.input_tokens, stage.output_tokens, stage.cost or 0.0),
            runtime_secs=(stage.duration_ms or 0) / 1000,
        )
        for stage in used
    ]
    totals = {
        "runtime_secs": sum(stage.duration_ms or 0 for stage in used) / 1000,
        "input_tokens": sum(stage.input_tokens for stage in used),
        "output_tokens": sum(stage.output_tokens for stage in used),
        "cost": money(sum((stage.cost or 0.0 for stage in used), 0.0)),
    }
    return RunUsage(stages=items, totals=totals, by_model=_by_model(used))


# ---- retro -----------------------------------------------------------------------------------


def _stage_retro(stage: StageRecord) -> StageRetro:
    outcome = stage.outcome or {}
    failure = outcome.get("failure") or {}
    return StageRetro(
        stage_id=stage.stage_id,
        stage_label=stage.name,
        status=outcome.get("status", "fail"),
        duration_ms=stage.duration_ms or 0,
        retries=max(stage.attempts - 1, 0),
        cost=UNSET if stage.cost is None else money(stage.cost),
        notes=outcome.get("notes") or UNSET,
        failure_reason=failure.get("message") or UNSET,
        files_touched=list(outcome.get("files_touched") or []),
    )


def _elapsed_ms(start: str | None, end: str | None) -> int:
    if start is None or end is None:
        return 0
    return max(int((parse_ts(end) - parse_ts(start)).total_seconds() * 1000), 0)


def retro(run: RunRecord, records: Sequence[StageRecord]) -> RetroDetail | None:
    """RetroDetail of a terminal run (None before), without the narrative fields."""
    if not run.is_terminal:
        return None
    terminal = {node.id for node in Graph.from_json(run.prepared_graph).terminal_nodes()}
    finished = [
        stage
        for stage in records
        if stage.outcome is not None
        and stage.status in ("completed", "failed")
        and stage.node_id not in terminal
    ]
    items = [_stage_retro(stage) for stage in finished]
    total_cost = sum(stage.cost or 0.0 for stage in finished)
    failed = sum(1 for item in items if item.status == "fail")
    stats = RetroStats(
        total_duration_ms=_elapsed_ms(run.started_at, run.finished_at),
        total_cost=money(total_cost) if total_cost > 0 else UNSET,
        total_retries=sum(item.retries for item in items),
        files_touched=sorted({path for item in items for path in item.files_touched}),
        stages_completed=sum(1 for item in items if item.status in SUCCESSFUL),
        stages_failed=max(failed, 1) if run.status == "failed" else failed,
    )
    return RetroDetail(
        run_id=run.id,
        workflow_name=run.graph_name,
        goal=run.goal,
        timestamp=run.finished_at or run.updated_at,
        stages=items,
        stats=stats,
    )


# ---- handlers --------------------------------------------------------------------------------


async def list_run_stages(id: str) -> PaginatedRunStageList:
    params = page_params()
    run = await run_or_404(id)
    return PaginatedRunStageList.of(*params.slice(await run_stage_list(run)))


async def list_stage_turns(id: str, stageId: str) -> PaginatedStageTurnList:  # noqa: N803
    params = page_params()
    run = await run_or_404(id)
    store = services().store
    if await store.get_stage(run.id, stageId) is None:
        # The exit stage and a pending one have no row (and no turns) but are stages of the run.
        if all(stage.id != stageId for stage in await run_stage_list(run)):
            raise NotFound("Stage not found.")
        return PaginatedStageTurnList.of([], False)
    turns = await store.list_turns(run.id, stageId)
    return PaginatedStageTurnList.of(*params.slice([turn_json(t) for t in turns]))


async def retrieve_run_usage(id: str) -> RunUsage:
    run = await run_or_404(id)
    return run_usage(await services().store.list_stages(run.id))


async def retrieve_retro(id: str) -> RetroDetail | None:
    """None (a JSON `null` body, not an empty response) until the run is over."""
    run = await run_or_404(id)
    if not run.is_terminal:
        return None
    return retro(run, await services().store.list_stages(run.id))


HANDLERS: dict[str, Handler] = {
    "listRunStages": list_run_stages,
    "listStageTurns": list_stage_turns,
    "retrieveRunUsage": retrieve_run_usage,
    "retrieveRetro": retrieve_retro,
}
