"""Steering guidance: consumed, in order, by the next LLM request of a run (engine.md §9.9)."""

from __future__ import annotations

from fabro.clock import now_ts
from fabro.engine.stage import StageRun
from fabro.events.agent import SteeringInjected
from fabro.events.types import Agent, RunEvent
from fabro.storage.steering import SteeringRecord
from fabro.storage.store import Write


class Steering:
    """Entries read for one LLM request; consumed in the commit that carries the request."""

    def __init__(self, stage: StageRun, entries: list[SteeringRecord]) -> None:
        self.stage = stage
        self.entries = entries

    @classmethod
    async def pending(cls, stage: StageRun) -> Steering:
        # A turn that consumed entries is streamed: its commit comes first. The read itself
        # does not wait for the writer (the stage's StageStarted may still be queued).
        recorder, store = stage.recorder, stage.deps.desk.store  # the engine's store
        await recorder.settle_reads()
        # Read before looking: an entry committed after the look moves the version again.
        count = store.steering_version()
        if recorder.no_steering_at == count:
            return cls(stage, [])  # none was pending, and none has been added since
        entries = await store.pending_steering(stage.stored_run_id)
        recorder.no_steering_at = None if entries else count
        return cls(stage, entries)

    @property
    def texts(self) -> list[str]:
        return [entry.text for entry in self.entries]

    def events(self) -> list[RunEvent]:
        node_id = self.stage.node.id
        return [Agent(stage=node_id, event=SteeringInjected(text=text)) for text in self.texts]

    def consume(self) -> Write[None] | None:
        """The write that marks these entries consumed by this stage (None when empty)."""
        if not self.entries:
            return None
        numbers = [entry.n for entry in self.entries]
        run_id, stage_id = self.stage.stored_run_id, self.stage.stored_stage_id
        store = self.stage.deps.desk.store
        return store.consume_steering(run_id, numbers, stage_id, now_ts(self.stage.deps.clock))
