"""What one commit of a run recorder holds (recorder.py): the writes of one turn of the event
loop, and the checkpoint changes of its stages, merged."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from fabro.clock import Clock, now_ts
from fabro.engine.delta import SECTIONS, StateDelta
from fabro.storage.records import EventRecord, NewEvent
from fabro.storage.stages import StageFinish, StageRecord
from fabro.storage.store import CheckpointWrite, RunCommit, Store, Write


@dataclass(eq=False)
class Batch:
    """The writes a recorder queued in one turn of the event loop: one database write."""

    epoch: int
    within_s: float  # how long the write may wait for company (the least of its writes')
    clock: Clock
    commit: RunCommit = field(default_factory=RunCommit)
    turn_stages: set[str] = field(default_factory=set)  # the stages of its turns
    changes: StateDelta | None = None  # its stages' checkpoint deltas, merged
    future: asyncio.Future[list[EventRecord]] | None = None  # once handed to the database

    def add(self, write: Write[Any] | None, events: list[NewEvent], ts: str | None = None) -> None:
        """``write`` and ``events``, stamped ``ts`` (default: now)."""
        if write is not None:
            self.commit.writes.append(write)
        if events:
            self.commit.events += events
            self.commit.stamps += [ts or now_ts(self.clock)] * len(events)

    def move_to(self, node_id: str, ts: str) -> None:
        self.commit.node = (node_id, ts)

    def add_checkpoint(self, update: CheckpointUpdate, ts: str) -> None:
        if self.changes is None:
            self.changes = StateDelta()
        self.changes.then(update.delta)
        self.commit.checkpoint = CheckpointWrite(
            self.changes, ts, update.current_node, update.next_node_id
        )

    def done(self) -> bool:
        return self.future is not None and self.future.done()


@dataclass(eq=False)
class CheckpointUpdate:
    """What a stage changed in the checkpoint: its state delta and the new head."""

    delta: StateDelta
    current_node: str | None
    next_node_id: str | None

    @property
    def whole(self) -> bool:
        return self.delta.replaced.issuperset(SECTIONS)


@dataclass(eq=False)
class StageStart:
    """The write of a stage's row as it starts; its finish joins it while both are queued in
    the same batch, so the row is inserted once, finished (Store.start_stage)."""

    store: Store
    stage: StageRecord
    finish: StageFinish | None = None

    def write(self, tx: Any) -> None:
        self.store.start_stage(self.stage, self.finish)(tx)
