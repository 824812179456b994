"""Run internals over HTTP: graph, checkpoint, context, configuration, steering (api.md §6)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
from msgspec import UNSET
from quart import Response

from fabro.api.bodies.common import JsonObject, LlmConfig
from fabro.api.bodies.runs import RunCheckpoint, RunConfiguration, SteerLocation, SteerRequest
from fabro.api.context import Handler, principal, services
from fabro.api.lookup import run_or_404
from fabro.api.request import query_choice, read_body
from fabro.api.stages import run_stage_list
from fabro.clock import now_ts
from fabro.errors import Conflict
from fabro.llm.resolve import LevelChoice, resolve_model
from fabro.storage.records import RunRecord
from fabro.workflow import render
from fabro.workflow.model import Graph

GRAPH_TIMEOUT_S = 10.0  # api.md §6.11; a module constant so tests can shorten it
STEERABLE = ("running", "paused")
MEDIA_TYPES = {"svg": "image/svg+xml", "png": "image/png"}


# ---- graph -----------------------------------------------------------------------------------


async def node_statuses(run: RunRecord) -> dict[str, str]:
    """Node id -> status of its latest stage instance (nodes never started are left out)."""
    # Entries come in execution order (pending last), so later instances win.
    return {stage.dot_id: stage.status for stage in await run_stage_list(run)}


async def retrieve_run_graph(id: str) -> Response:
    fmt = query_choice("format", render.FORMATS, "svg")
    run = await run_or_404(id)
    graph = Graph.from_json(run.prepared_graph)
    dot = render.normalized_dot(graph, stage_status=await node_statuses(run))
    # `dot` is a subprocess with a 10 s limit: run it off the event loop. GraphvizError is a
    # BadGateway whose detail is the exact 502 text.
    image = await asyncio.to_thread(render.render, dot, fmt, GRAPH_TIMEOUT_S)
    return Response(image, status=200, content_type=MEDIA_TYPES[fmt])


# ---- checkpoint and context ------------------------------------------------------------------


async def retrieve_run_checkpoint(id: str) -> RunCheckpoint | None:
    """None (a JSON `null` body) before the first stage completes."""
    run = await run_or_404(id)
    checkpoint = await services().store.get_checkpoint(run.id)
    if checkpoint is None:
        return None
    return RunCheckpoint.from_record(services().runs.redactor.value(checkpoint.data))


async def retrieve_run_context(id: str) -> JsonObject:
    run = await run_or_404(id)
    manager = services().runs
    context: dict[str, Any] | None = None
    if run.status in ("running", "paused"):
        context = manager.live_context(run.id)
    if context is None:
        # Not executing here (not started, terminal, or between scheduler steps): the latest
        # durable context, which is `{}` before the first stage completes.
        checkpoint = await services().store.get_checkpoint(run.id)
        context = dict(checkpoint.data.get("context_values") or {}) if checkpoint else {}
    redacted: dict[str, Any] = manager.redactor.value(context)
    return redacted


# ---- configuration ---------------------------------------------------------------------------


def working_directory(run: RunRecord) -> str:
    """Where the run works: its configured `directory`, else `<data_dir>/runs/<id>/work`.

    The same rule as Lifecycle.prepare_dirs, without creating anything.
    """
    run_dir = services().runs.lifecycle.run_dir(run.id)
    directory = run.config.get("directory")
    if not directory:
        return str((run_dir / "work").resolve())
    path = Path(str(directory)).expanduser()
    if not path.is_absolute():
        workflow_dir = run.config.get("workflow_dir")
        path = (Path(str(workflow_dir)) if workflow_dir else run_dir) / path
    return str(path.resolve())


def run_llm(run: RunRecord, graph: Graph) -> LlmConfig:
    """The run-level model and provider after resolution (engine.md §10.1, no node level)."""
    llm: dict[str, Any] = run.config.get("llm") or {}
    server = services().llm_settings
    resolved = resolve_model(
        run_config=LevelChoice(llm.get("model"), llm.get("provider")),
        server_default=LevelChoice(server.model, server.provider),
        graph_default=LevelChoice(graph.default_model, graph.default_provider),
    )
    return LlmConfig(model=resolved.model or UNSET, provider=resolved.provider)


async def retrieve_run_configuration(id: str) -> RunConfiguration:
    run = await run_or_404(id)
    return RunConfiguration(
        version=1,
        graph=run.source_name,
        goal=run.goal or UNSET,
        # Path.resolve touches the file system (symlinks): keep it off the event loop.
        directory=await asyncio.to_thread(working_directory, run),
        llm=run_llm(run, Graph.from_json(run.prepared_graph)),
        vars=dict(run.vars) if run.vars else UNSET,
        graph_name=run.graph_name,
        labels=dict(run.labels),
        title=run.title,
        dry_run=run.dry_run,
    )


# ---- steering --------------------------------------------------------------------------------


def _location(location: SteerLocation | None) -> dict[str, Any] | None:
    if location is None:
        return None
    found: dict[str, Any] = msgspec.to_builtins(location)
    return found


async def steer(run_id: str, body: SteerRequest, login: str) -> None:
    """Add guidance to a running or paused run (the API's and the UI's one way): 409 else."""
    guidance, location = body.guidance, _location(body.location)
    run = await run_or_404(run_id)
    # The store checks the run's status in the transaction that adds the guidance, so it
    # never lands on a run that became terminal in between.
    added = await services().store.steer(
        STEERABLE,
        run_id=run.id,
        guidance=guidance,
        location=location,
        created_by=login,
        created_at=now_ts(),
    )
    if added is None:
        raise Conflict("Run is not steerable.")


async def steer_run(id: str) -> Response:
    await steer(id, await read_body(SteerRequest), principal().login)
    return Response(status=202)


HANDLERS: dict[str, Handler] = {
    "retrieveRunGraph": retrieve_run_graph,
    "retrieveRunCheckpoint": retrieve_run_checkpoint,
    "retrieveRunContext": retrieve_run_context,
    "retrieveRunConfiguration": retrieve_run_configuration,
    "steerRun": steer_run,
}
