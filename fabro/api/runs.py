"""Runs (api.md §6.2-§6.5): start, list, retrieve, cancel, pause, unpause."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from quart import Response, request

from fabro.api.bodies.runs import (
    PaginatedRunList,
    RunStatusResponse,
    StartRunRequest,
    StartRunResponse,
)
from fabro.api.context import Handler, principal, services
from fabro.api.lookup import run_or_404
from fabro.api.pagination import page_params
from fabro.api.request import as_body, json_body, query_enum_list
from fabro.api.respond import json_response
from fabro.api.views import find_run_status, load_run_list, load_run_status
from fabro.clock import format_ts
from fabro.config import Settings
from fabro.engine.lifecycle import NewRun, default_title
from fabro.errors import BadRequest, Conflict, NotFound, UnprocessableEntity
from fabro.governance.actions import Subject
from fabro.governance.policy import Policy
from fabro.governance.submission import blocked_detail, blocked_stages, submission_work_dir
from fabro.storage.records import RUN_STATUSES, RunRecord
from fabro.storage.store import IdempotencyCheck, IdempotencyConflict
from fabro.workflow.errors import DotParseError
from fabro.workflow.prepare import prepare
from fabro.workflow.registry import find_workflow

IDEMPOTENCY_WINDOW = timedelta(hours=24)
_PRINTABLE = re.compile(r"[\x20-\x7e]{1,255}")


def idempotency_key(raw: str | None, where: str = "Idempotency-Key header") -> str | None:
    """A client's Idempotency-Key (1-255 printable ASCII characters), None when absent."""
    if raw is None:
        return None
    if not _PRINTABLE.fullmatch(raw):
        raise BadRequest(f"Invalid {where}.")
    return raw


def _request_hash(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


async def _respond(run: RunRecord, status: int) -> Response:
    body = StartRunResponse.of(await load_run_status(services().store, run), run.warnings)
    return json_response(body, status, {"Location": f"/runs/{run.id}"})


def _new_run(body: StartRunRequest, settings: Settings, login: str, policy: Policy) -> NewRun:
    """Prepare and validate the workflow of a StartRunRequest (400 on any problem; 422 when
    the policy blocks a command stage as written).

    CPU-bound and reading files: `start_run` calls it in a worker thread.
    """
    dot_source, workflow_name, goal, title = body.dot_source, body.workflow, body.goal, body.title
    variables = dict(body.vars or {})
    labels = dict(body.labels or {})

    config: dict[str, Any] = {}
    slug = config_goal = None
    if workflow_name is not None:
        # A WorkflowConfigError (a bad workflow.toml) is itself a 400.
        found = find_workflow(settings.workflows_dir, workflow_name)
        if found is None:
            raise BadRequest(f"Workflow not found: {workflow_name}.")
        slug, source, path = found.slug, found.text, found.dot_path
        config = dict(found.config)
        config["workflow_dir"] = str(found.folder)
        config_goal = config.get("goal")
        variables = {**dict(config.get("vars") or {}), **variables}
        labels = {**dict(config.get("labels") or {}), **labels}
    else:
        assert dot_source is not None
        source, path = dot_source, None
    try:
        # The request's goal and vars are text: only the workflow's own files are read.
        prepared = prepare(
            source,
            path=path,
            goal=goal,
            config_goal=config_goal,
            vars=variables,
            resolve_files=path is not None,
            limits=settings.limits,
        )
    except DotParseError as exc:
        raise BadRequest(f"Parse error: {exc.location}") from None
    if not prepared.ok:
        raise BadRequest(f"Validation error: {prepared.error_summary()}")
    graph = prepared.graph
    subject = Subject(
        run_id="",
        workflow=slug,
        user=login,
        work_dir=submission_work_dir(settings.data_dir, config),
    )
    blocked = blocked_stages(graph, policy, subject)
    if blocked:
        raise UnprocessableEntity(blocked_detail(graph, blocked))
    return NewRun(
        graph=graph,
        dot_source=source,
        title=title if title is not None else default_title(graph.goal, graph),
        goal=graph.goal,
        labels=labels,
        vars=variables,
        workflow_slug=slug,
        source_name=path.name if path is not None else "graph.dot",
        config=config,
        warnings=[diagnostic.to_json() for diagnostic in prepared.warnings],
        dry_run=settings.dry_run,
        created_by=login,
    )


async def start_run() -> Response:
    raw = await json_body()
    body = as_body(raw, StartRunRequest)
    run, created = await submit_run(
        body, raw, principal().login, idempotency_key(request.headers.get("Idempotency-Key"))
    )
    return await _respond(run, 201 if created else 200)


async def submit_run(
    body: StartRunRequest, raw: dict[str, Any], login: str, key: str | None
) -> tuple[RunRecord, bool]:
    """Start the run ``body`` asks for, as ``login``: the run and whether it is new.

    ``raw`` is the request as JSON (what an Idempotency-Key ``key`` is checked against). The
    API's `POST /runs` and the UI's new-run form both start runs here, with the same checks.
    """
    check: IdempotencyCheck | None = None
    if key is not None:
        not_before = format_ts(datetime.now(UTC) - IDEMPOTENCY_WINDOW)
        request_hash = await asyncio.to_thread(_request_hash, raw)
        check = IdempotencyCheck(login, key, request_hash, not_before)
        # A replay or a conflict is decided before the workflow is even prepared (a 409 is a
        # state check and comes before semantic checks; a replay must not fail on them).
        replay = await _replay(check)
        if replay is not None:
            return replay, False
    # Off the event loop: a large workflow takes a while to parse, expand and validate, and
    # other requests must not wait for it.
    new = await asyncio.to_thread(_new_run, body, services().settings, login, services().policy())
    try:
        return await services().runs.create(new, idempotency=check)
    except IdempotencyConflict:
        raise Conflict("Idempotency-Key was already used with a different request body.") from None


async def _replay(check: IdempotencyCheck) -> RunRecord | None:
    store = services().store
    remembered = await store.remembered_key(check)
    if remembered is None:
        return None
    if remembered.request_hash != check.request_hash:
        raise Conflict("Idempotency-Key was already used with a different request body.")
    return await store.get_run(remembered.run_id)


async def list_runs() -> PaginatedRunList:
    # `status` filters by fabro's run status (the items' `run_status`), not by board column.
    statuses = query_enum_list("status", RUN_STATUSES)
    return await run_page(statuses=statuses, workflow_slug=request.args.get("workflow") or None)


async def run_page(
    *, statuses: list[str] | None = None, workflow_slug: str | None = None
) -> PaginatedRunList:
    """A page of RunListItems, newest first (also used by /workflows/{name}/runs)."""
    params = page_params()
    store = services().store
    page = await store.list_runs(
        limit=params.limit,
        offset=params.offset,
        statuses=statuses or [],
        workflow_slug=workflow_slug,
    )
    items = await load_run_list(store, page.items, now=datetime.now(UTC))
    return PaginatedRunList.of(items, page.has_more)


async def retrieve_run(id: str) -> RunStatusResponse:
    # Its 200s are usually sent by the fast lane (api/fastlane.py) before Quart sees them.
    status = await find_run_status(services().store, id)
    if status is None:
        raise NotFound("Run not found.")
    return status


# Each action of the run manager and the 409 detail when the run's status does not allow it.
TRANSITIONS = {
    "cancel": "Run is not cancellable.",
    "pause": "Run is not pausable.",
    "unpause": "Run is not paused.",
}


async def transition_run(run_id: str, action: str) -> RunStatusResponse:
    """Cancel, pause or unpause a run (the API's and the UI's one way): 409 when it cannot."""
    conflict = TRANSITIONS[action]
    await run_or_404(run_id)
    manager = services().runs
    moved = await getattr(manager, action)(run_id)
    if moved is None:
        raise Conflict(conflict)
    return await load_run_status(services().store, moved)


async def cancel_run(id: str) -> RunStatusResponse:
    return await transition_run(id, "cancel")


async def pause_run(id: str) -> RunStatusResponse:
    return await transition_run(id, "pause")


async def unpause_run(id: str) -> RunStatusResponse:
    return await transition_run(id, "unpause")


HANDLERS: dict[str, Handler] = {
    "startRun": start_run,
    "listRuns": list_runs,
    "retrieveRun": retrieve_run,
    "cancelRun": cancel_run,
    "pauseRun": pause_run,
    "unpauseRun": unpause_run,
}
