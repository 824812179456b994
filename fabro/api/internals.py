"""Run internals over HTTP: graph, checkpoint, context, configuration, steering (api.md §6)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from quart import Response, jsonify

from fabro.api.context import Handler, principal, services
from fabro.api.lookup import run_or_404
from fabro.api.request import json_body, query_choice
from fabro.api.stages import run_stage_list
from fabro.clock import now_ts
from fabro.errors import BadRequest, Conflict
from fabro.llm.resolve import LevelChoice, resolve_model
from fabro.storage import questions, runs
from fabro.storage.db import WriteTx
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
    return {stage["dot_id"]: stage["status"] for stage in await run_stage_list(run)}


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


async def retrieve_run_checkpoint(id: str) -> Response:
    run = await run_or_404(id)
    checkpoint = await runs.get_checkpoint(services().db, run.id)
    if checkpoint is None:
        return jsonify(None)  # a JSON `null` body before the first stage completes
    return jsonify(services().runs.redactor.value(checkpoint.data))


async def retrieve_run_context(id: str) -> dict[str, Any]:
    run = await run_or_404(id)
    manager = services().runs
    context: dict[str, Any] | None = None
    if run.status in ("running", "paused"):
        context = manager.live_context(run.id)
    if context is None:
        # Not executing here (not started, terminal, or between scheduler steps): the latest
        # durable context, which is `{}` before the first stage completes.
        checkpoint = await runs.get_checkpoint(services().db, run.id)
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


def run_llm(run: RunRecord, graph: Graph) -> dict[str, str]:
    """The run-level model and provider after resolution (engine.md §10.1, no node level)."""
    llm: dict[str, Any] = run.config.get("llm") or {}
    server = services().llm_settings
    resolved = resolve_model(
        run_config=LevelChoice(llm.get("model"), llm.get("provider")),
        server_default=LevelChoice(server.model, server.provider),
        graph_default=LevelChoice(graph.default_model, graph.default_provider),
    )
    body = {"model": resolved.model} if resolved.model else {}
    body["provider"] = resolved.provider
    return body


async def retrieve_run_configuration(id: str) -> dict[str, Any]:
    run = await run_or_404(id)
    body: dict[str, Any] = {"version": 1, "graph": run.source_name}
    if run.goal:
        body["goal"] = run.goal
    # Path.resolve touches the file system (symlinks): keep it off the event loop.
    body["directory"] = await asyncio.to_thread(working_directory, run)
    body["llm"] = run_llm(run, Graph.from_json(run.prepared_graph))
    if run.vars:
        body["vars"] = dict(run.vars)
    body["graph_name"] = run.graph_name
    body["labels"] = dict(run.labels)
    body["title"] = run.title
    body["dry_run"] = run.dry_run
    return body


# ---- steering --------------------------------------------------------------------------------


def _location(body: dict[str, Any]) -> dict[str, Any] | None:
    location = body.get("location")
    if location is None:
        return None
    if not isinstance(location, dict):
        raise BadRequest("Field 'location' must be an object.")
    file = location.get("file")
    if file is None:
        raise BadRequest("Missing required field 'location.file'.")
    if not isinstance(file, str):
        raise BadRequest("Field 'location.file' must be a string.")
    line = location.get("line")
    if line is not None and (not isinstance(line, int) or isinstance(line, bool)):
        raise BadRequest("Field 'location.line' must be an integer.")
    return {"file": file} if line is None else {"file": file, "line": line}


def _guidance(body: dict[str, Any]) -> str:
    guidance = body.get("guidance")
    if guidance is None:
        raise BadRequest("Missing required field 'guidance'.")
    if not isinstance(guidance, str):
        raise BadRequest("Field 'guidance' must be a string.")
    if not guidance.strip():
        raise BadRequest("Field 'guidance' must not be empty.")
    return guidance


async def steer_run(id: str) -> Response:
    body = await json_body()
    guidance, location = _guidance(body), _location(body)
    run = await run_or_404(id)
    created_by = principal().login

    def store(tx: WriteTx) -> bool:
        # The state check and the insert share the transaction, so guidance never lands on a
        # run that became terminal in between.
        current = runs.get_run_in(tx, run.id)
        if current is None or current.status not in STEERABLE:
            return False
        questions.add_steering(
            tx,
            run_id=run.id,
            guidance=guidance,
            location=location,
            created_by=created_by,
            created_at=now_ts(),
        )
        return True

    if not await services().db.write(store):
        raise Conflict("Run is not steerable.")
    return Response(status=202)


HANDLERS: dict[str, Handler] = {
    "retrieveRunGraph": retrieve_run_graph,
    "retrieveRunCheckpoint": retrieve_run_checkpoint,
    "retrieveRunContext": retrieve_run_context,
    "retrieveRunConfiguration": retrieve_run_configuration,
    "steerRun": steer_run,
}
