"""The workflows registry over HTTP (api.md §7): list, retrieve, and the runs of one."""

from __future__ import annotations

import asyncio
from typing import Any

from fabro.api.context import Handler, services
from fabro.api.pagination import page_params, paginated
from fabro.api.runs import run_page
from fabro.errors import NotFound
from fabro.storage import runs
from fabro.workflow.registry import RegistryWorkflow, list_workflows, read_workflow


def workflow_config(workflow: RegistryWorkflow) -> dict[str, Any]:
    """RunConfiguration `{version: 1, graph, goal?, directory?, llm?, vars?}` of workflow.toml."""
    config = workflow.config
    body: dict[str, Any] = {"version": 1, "graph": workflow.filename}
    for key in ("goal", "directory"):
        if key in config:
            body[key] = config[key]
    if config.get("llm"):
        body["llm"] = dict(config["llm"])
    if "vars" in config:
        body["vars"] = dict(config["vars"])
    return body


async def _found_or_404(name: str) -> RegistryWorkflow:
    found = await asyncio.to_thread(read_workflow, services().settings.workflows_dir, name)
    if found is None:
        raise NotFound("Workflow not found.")
    return found


async def _list_item(workflow: RegistryWorkflow) -> dict[str, Any]:
    graph = await asyncio.to_thread(workflow.graph)
    item: dict[str, Any] = {
        "name": workflow.display_name(graph),
        "slug": workflow.slug,
        "filename": workflow.filename,
    }
    newest = await runs.list_runs(services().db, limit=1, offset=0, workflow_slug=workflow.slug)
    if newest.items:
        item["last_run"] = {"ran_at": newest.items[0].created_at}
    return item


async def list_workflows_route() -> dict[str, Any]:
    params = page_params()
    # Scanned on every request (api.md §7); disk reads stay off the event loop.
    found = await asyncio.to_thread(list_workflows, services().settings.workflows_dir)
    page, has_more = params.slice(found)
    return paginated([await _list_item(workflow) for workflow in page], has_more)


async def retrieve_workflow(name: str) -> dict[str, Any]:
    workflow = await _found_or_404(name)
    graph = await asyncio.to_thread(workflow.graph)
    return {
        "name": workflow.display_name(graph),
        "slug": workflow.slug,
        "filename": workflow.filename,
        "description": workflow.description(graph),
        "config": workflow_config(workflow),
        "graph": workflow.text,
    }


async def list_workflow_runs(name: str) -> dict[str, Any]:
    page_params()  # query syntax (400) is checked before the lookup (404), api.md §2
    workflow = await _found_or_404(name)
    return await run_page(workflow_slug=workflow.slug)


HANDLERS: dict[str, Handler] = {
    "listWorkflows": list_workflows_route,
    "retrieveWorkflow": retrieve_workflow,
    "listWorkflowRuns": list_workflow_runs,
}
