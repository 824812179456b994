"""The workflows pages: the registry with a graph preview of each, and one workflow's page
(its graph, source and runs, and a link to start it).

They read the registry as `GET /workflows` does (fabro/workflow/registry.py, off the event
loop) and draw graphs with the API's renderer (`normalized_dot` + `dot`), inlined as SVG.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from markupsafe import Markup
from quart import render_template

from fabro.api.context import services
from fabro.api.pagination import page_params
from fabro.errors import NotFound
from fabro.storage.records import RunSummary
from fabro.ui.blueprint import ui
from fabro.ui.graph import decorate
from fabro.workflow.errors import GraphvizError
from fabro.workflow.model import Graph
from fabro.workflow.registry import RegistryWorkflow, list_workflows, read_workflow
from fabro.workflow.render import normalized_dot, render

GRAPH_TIMEOUT_S: Final = 10.0  # as `GET /runs/{id}/graph`
CACHED_DOT_CHARS: Final = 32 * 1024
# Larger graphs get no preview in the list (drawing them takes seconds); their page draws them.
PREVIEW_MAX_NODES: Final = 150
_ID = re.compile(r'\bid="')


@dataclass(frozen=True)
class GraphPicture:
    """An inline SVG of a graph, or why there is none."""

    svg: Markup | None
    problem: str | None = None


@lru_cache(maxsize=32)
def _drawn_small(dot: str) -> bytes:
    return render(dot, "svg", GRAPH_TIMEOUT_S)


def _drawn(dot: str) -> bytes:
    """Graphviz's SVG of ``dot``. Small graphs are cached (the registry's graphs are drawn
    again on every visit, and the same DOT always gives the same drawing); the cache holds
    at most 32 of them, each of at most CACHED_DOT_CHARS, so its memory stays small."""
    return (
        _drawn_small(dot) if len(dot) <= CACHED_DOT_CHARS else render(dot, "svg", GRAPH_TIMEOUT_S)
    )


def graph_svg(graph: Graph, id_prefix: str) -> GraphPicture:
    """``graph`` drawn by Graphviz and sanitised as the run page's graph is (fabro/ui/graph.py:
    labels re-escaped, no style, handler or link attributes), its element ids prefixed so
    that several graphs can share a page. Blocking: call it in a worker thread."""
    try:
        svg = decorate(_drawn(normalized_dot(graph)), graph, {})
    except GraphvizError as error:
        return GraphPicture(None, error.detail)
    return GraphPicture(Markup(_ID.sub(f'id="{id_prefix}-', svg)))


@dataclass(frozen=True)
class WorkflowView:
    """What the pages show of one registry workflow."""

    workflow: RegistryWorkflow
    name: str
    description: str
    nodes: int | None  # None: the DOT does not parse
    picture: GraphPicture


def _view(workflow: RegistryWorkflow, max_nodes: int | None = None) -> WorkflowView:
    """Parse and draw ``workflow`` (CPU and a subprocess: called in a worker thread); with
    ``max_nodes``, a larger graph is not drawn."""
    graph = workflow.graph()
    if graph is None:
        picture = GraphPicture(None, "The workflow's DOT does not parse.")
    elif max_nodes is not None and len(graph.nodes) > max_nodes:
        picture = GraphPicture(None, f"more than {max_nodes} nodes; its page draws it.")
    else:
        picture = graph_svg(graph, f"graph-{workflow.slug}")
    return WorkflowView(
        workflow=workflow,
        name=workflow.display_name(graph),
        description=workflow.description(graph),
        nodes=len(graph.nodes) if graph is not None else None,
        picture=picture,
    )


async def _last_run(slug: str) -> RunSummary | None:
    newest = await services().store.list_runs(limit=1, offset=0, workflow_slug=slug)
    return newest.items[0] if newest.items else None


@ui.route("/workflows", methods=["GET"], endpoint="workflows")
async def workflows_page() -> Any:
    params = page_params()
    found = await asyncio.to_thread(list_workflows, services().settings.workflows_dir)
    page, has_more = params.slice(found)
    views = [await asyncio.to_thread(_view, workflow, PREVIEW_MAX_NODES) for workflow in page]
    last_runs = [await _last_run(view.workflow.slug) for view in views]
    return await render_template(
        "workflows.html",
        items=list(zip(views, last_runs, strict=True)),
        total=len(found),
        offset=params.offset,
        limit=params.limit,
        has_more=has_more,
    )


@ui.route("/workflows/<name>", methods=["GET"], endpoint="workflow")
async def workflow_page(name: str) -> Any:
    params = page_params()
    workflow = await asyncio.to_thread(read_workflow, services().settings.workflows_dir, name)
    if workflow is None:
        raise NotFound("Workflow not found.")
    view = await asyncio.to_thread(_view, workflow)
    runs = await services().store.list_runs(
        limit=params.limit, offset=params.offset, workflow_slug=workflow.slug
    )
    return await render_template(
        "workflows_detail.html",
        view=view,
        runs=runs.items,
        offset=params.offset,
        limit=params.limit,
        has_more=runs.has_more,
    )
