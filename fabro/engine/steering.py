"""Steering guidance: consumed, in order, by the next LLM request of a run (engine.md §9.9)."""

from __future__ import annotations

from fabro.clock import now_ts
from fabro.engine.stage import StageRun
from fabro.events.agent import SteeringInjected
from fabro.events.types import Agent
from fabro.storage import questions


async def take_steering(stage: StageRun) -> list[str]:
    """Mark pending entries consumed by this stage and report each; returns their texts."""
    db = stage.recorder.db
    async with db.transaction() as tx:
        pending = await questions.pending_steering(tx, stage.run_id)
        if pending:
            await questions.consume_steering(
                tx, stage.run_id, [entry.n for entry in pending], stage.stage_id, now_ts()
            )
    texts = [entry.text for entry in pending]
    for text in texts:
        await stage.emit(Agent(stage=stage.node.id, event=SteeringInjected(text=text)))
    return texts
