"""Wait stages: sleep for `duration`, cancellably (engine.md §9.7)."""

from __future__ import annotations

from fabro.engine.outcome import Outcome
from fabro.engine.stage import StageRun
from fabro.workflow.model import Node


async def wait(node: Node, stage: StageRun) -> Outcome:
    duration_ms = node.duration_ms
    if duration_ms is None:
        return Outcome.fail("Wait node requires a duration attribute")
    with stage.watchdog.suspend():  # sleeping is not inactivity
        await stage.deps.sleep(duration_ms / 1000)
    return Outcome.success(f"Waited {duration_ms}ms")
