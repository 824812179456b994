"""Start and conditional stages: no-ops that succeed (engine.md §9.1)."""

from __future__ import annotations

from fabro.engine.outcome import Outcome
from fabro.engine.stage import StageRun
from fabro.workflow.model import Node


async def start(node: Node, stage: StageRun) -> Outcome:
    return Outcome.success()


async def conditional(node: Node, stage: StageRun) -> Outcome:
    return Outcome.success(f"Conditional node evaluated: {node.id}")
