"""Manager loop stages: run a child workflow and watch it (engine.md §9.8)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fabro.engine.branches import cancel_and_wait
from fabro.engine.offload import condition_holds
from fabro.engine.outcome import Outcome
from fabro.engine.preamble import INTERNAL_PREFIXES
from fabro.engine.stage import StageRun
from fabro.workflow.errors import DotParseError, WorkflowInputError
from fabro.workflow.files import file_inside
from fabro.workflow.model import Graph, Node
from fabro.workflow.prepare import prepare, read_source


def load_child(node: Node, stage: StageRun) -> Graph | str:
    """The prepared child graph, or the error text."""
    path: Path | None = None
    if node.child_dotfile:
        base = stage.spec.workflow_dir or stage.work_dir
        # Only a file inside the folder: the attribute may come from a submitted graph.
        path = file_inside(node.child_dotfile, base)
        if path is None:
            return f"{node.child_dotfile}: no such file inside {base}"
        try:
            source = read_source(path)
        except OSError as exc:
            return f"{path}: {exc.strerror or exc}"
    elif node.child_dot_source:
        source = node.child_dot_source
    else:
        return "no stack.child_dotfile or stack.child_dot_source"
    try:
        prepared = prepare(source, path=path, vars=stage.spec.vars)
    except DotParseError as exc:
        return f"Parse error: {exc}"
    except WorkflowInputError as exc:
        return exc.detail
    if not prepared.ok:
        return f"Validation error: {prepared.error_summary()}"
    return prepared.graph


async def manager_loop(node: Node, stage: StageRun) -> Outcome:
    child_graph = load_child(node, stage)
    if isinstance(child_graph, str):
        return Outcome.fail(f"Failed to parse child pipeline: {child_graph}")
    base = dict(stage.context)
    context: dict[str, Any] = {
        **base,
        "internal.parent_preamble": str(base.get("current.preamble") or ""),
    }
    task = asyncio.create_task(stage.engine.run_child(stage, child_graph, dict(context)))
    poll_s = node.manager_poll_interval_ms / 1000
    stop = node.manager_stop_condition
    try:
        for _ in range(node.manager_max_cycles):
            done, _pending = await asyncio.wait({task}, timeout=poll_s)
            if done:
                result = task.result()
                if result.status == "failed":
                    return Outcome.fail(f"Child engine error: {result.error}")
                status = result.outcome.status if result.outcome else "success"
                changed = {
                    key: value
                    for key, value in (result.context or {}).items()
                    if not key.startswith(INTERNAL_PREFIXES) and context.get(key) != value
                }
                if status == "fail":
                    reason = result.outcome.failure_message if result.outcome else ""
                    return Outcome.fail(
                        f"Child workflow's last stage failed: {reason}", context_updates=changed
                    )
                return Outcome(status, notes="Child workflow completed", context_updates=changed)
            if stop and await condition_holds(stop, {"outcome": "success"}, stage.context):
                await cancel_and_wait(task)
                return Outcome.success("Stop condition met; child workflow stopped")
        await cancel_and_wait(task)
        return Outcome.fail(f"Max cycles ({node.manager_max_cycles}) exceeded")
    finally:
        if not task.done():
            await cancel_and_wait(task)
