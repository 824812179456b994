"""The workflows registry over HTTP (api.md §7): list, retrieve, and the runs of one."""

from __future__ import annotations

import asyncio

import msgspec
from msgspec import UNSET

from fabro.api.bodies.catalog import (
    LastRun,
    PaginatedWorkflowList,
    WorkflowDetail,
    WorkflowListItem,
)
from fabro.api.bodies.common import LlmConfig
from fabro.api.bodies.runs import PaginatedRunList, RunConfiguration
from fabro.api.context import Handler, services
from fabro.api.pagination import page_params
from fabro.api.runs import run_page
from fabro.errors import NotFound
from fabro.workflow.registry import RegistryWorkflow, list_workflows, read_workflow


def workflow_config(workflow: RegistryWorkflow) -> RunConfiguration:
    """RunConfiguration `{version: 1, graph, goal?, directory?, llm?, vars?}` of workflow.toml
    (its values checked when the file was read)."""
    config = workflow.config
    llm = config.get("llm")
    return RunConfiguration(
        version=1,
        graph=workflow.filename,
        goal=config.get("goal", UNSET),
        directory=config.get("directory", UNSET),
        llm=msgspec.convert(dict(llm), LlmConfig) if llm else UNSET,
        vars=dict(config["vars"]) if "vars" in config else UNSET,
    )


async def _found_or_404(name: str) -> RegistryWorkflow:
    found = await asyncio.to_thread(read_workflow, services().settings.workflows_dir, name)
    if found is None:
        raise NotFound("Workflow not found.")
    return found


async def _list_item(workflow: RegistryWorkflow) -> WorkflowListItem:
    graph = await asyncio.to_thread(workflow.graph)
    newest = await services().store.list_runs(limit=1, offset=0, workflow_slug=workflow.slug)
    return WorkflowListItem(
        name=workflow.display_name(graph),
        slug=workflow.slug,
        filename=workflow.filename,
        last_run=LastRun(ran_at=newest.items[0].created_at) if newest.items else UNSET,
    )


async def list_workflows_route() -> PaginatedWorkflowList:
    params = page_params()
    # Scanned on every request (api.md §7); disk reads stay off the event loop.
    found = await asyncio.to_thread(list_workflows, services().settings.workflows_dir)
    page, has_more = params.slice(found)
    return PaginatedWorkflowList.of([await _list_item(workflow) for workflow in page], has_more)


async def retrieve_workflow(name: str) -> WorkflowDetail:
    workflow = await _found_or_404(name)
    graph = await asyncio.to_thread(workflow.graph)
    return WorkflowDetail(
        name=workflow.display_name(graph),
        slug=workflow.slug,
        filename=workflow.filename,
        description=workflow.description(graph),
        config=workflow_config(workflow),
        graph=workflow.text,
    )


async def list_workflow_runs(name: str) -> PaginatedRunList:
    page_params()  # query syntax (400) is checked before the lookup (404), api.md §2
    workflow = await _found_or_404(name)
    return await run_page(workflow_slug=workflow.slug)


HANDLERS: dict[str, Handler] = {
    "listWorkflows": list_workflows_route,
    "retrieveWorkflow": retrieve_workflow,
    "listWorkflowRuns": list_workflow_runs,
}
