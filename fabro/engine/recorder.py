"""Persist, then publish: how the engine writes a run's events, stages and checkpoints.

Every write is one transaction on the single write path; events get their per-run sequence
inside it and are handed to ``publish`` only after the commit. Each transaction first checks
that the run is still active, so a run cancelled by a client never gets another event: the
engine's write is rolled back and it learns the run is gone (``RunNotActive``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from fabro.clock import now_ts
from fabro.events.redact import Redactor
from fabro.events.types import RunEvent
from fabro.storage import questions, runs, stages
from fabro.storage.db import Database, Transaction
from fabro.storage.records import EventRecord, NewEvent
from fabro.storage.stages import StageFinish, StageRecord, TurnRecord

Publish = Callable[[EventRecord], None]
ACTIVE = ("starting", "running", "paused")


class RunNotActive(Exception):
    """The run became terminal (cancelled) while the engine was still working on it."""


class Recorder:
    """Writes one run's engine output; child workflows write through ``child()``."""

    def __init__(
        self,
        db: Database,
        run_id: str,
        publish: Publish,
        redactor: Redactor,
        child_depth: int = 0,
    ) -> None:
        self.db = db
        self.run_id = run_id
        self.publish = publish
        self.redactor = redactor
        self.child_depth = child_depth
        self.last_activity = time.monotonic()

    def child(self) -> Recorder:
        """A recorder whose events land in this run's stream one level deeper (manager loop)."""
        return ChildRecorder(self.db, self.run_id, self.publish, self.redactor, self.child_depth + 1)

    @property
    def records_state(self) -> bool:
        """Children have no stage rows, turns or checkpoints of their own."""
        return True

    def _new(self, events: Sequence[RunEvent]) -> list[NewEvent]:
        return [
            NewEvent.of(self.redactor.value(event.to_json()), self.child_depth)
            for event in events
        ]

    async def _guard(self, tx: Transaction) -> None:
        row = await tx.fetchone("SELECT status FROM runs WHERE id = ?", [self.run_id])
        if row is None or row[0] not in ACTIVE:
            raise RunNotActive(self.run_id)

    def _published(self, stored: list[EventRecord]) -> None:
        self.last_activity = time.monotonic()
        for record in stored:
            self.publish(record)

    async def emit(self, *events: RunEvent) -> None:
        """Commit events on their own (they stream live while a stage runs), then publish."""
        async with self.db.transaction() as tx:
            await self._guard(tx)
            stored = await runs.append_events(tx, self.run_id, self._new(events), now_ts())
        self._published(stored)

    async def stage_started(self, stage: StageRecord, event: RunEvent | None) -> None:
        """The stage row as running, the run's current node and StageStarted, in one commit."""
        async with self.db.transaction() as tx:
            await self._guard(tx)
            await stages.start_stage(tx, stage)
            if stage.parallel_parent is None:
                await runs.update_run(
                    tx, self.run_id, current_node=stage.node_id, updated_at=now_ts()
                )
            stored = (
                await runs.append_events(tx, self.run_id, self._new([event]), now_ts())
                if event
                else []
            )
        self._published(stored)

    async def stage_finished(
        self,
        stage_id: str,
        finish: StageFinish,
        events: Sequence[RunEvent],
        checkpoint: dict[str, Any] | None,
        current_node: str | None,
    ) -> None:
        """The per-stage commit (engine.md §4.2): closing events, stage row, checkpoint, node."""
        async with self.db.transaction() as tx:
            await self._guard(tx)
            await stages.finish_stage(tx, self.run_id, stage_id, finish)
            if checkpoint is not None:
                await runs.save_checkpoint(
                    tx, self.run_id, self.redactor.value(checkpoint), now_ts()
                )
            if current_node is not None:
                await runs.update_run(
                    tx, self.run_id, current_node=current_node, updated_at=now_ts()
                )
            stored = await runs.append_events(tx, self.run_id, self._new(events), now_ts())
        self._published(stored)

    async def set_attempts(self, stage_id: str, attempts: int) -> None:
        async with self.db.transaction() as tx:
            await self._guard(tx)
            await stages.set_attempts(tx, self.run_id, stage_id, attempts)

    async def add_turn(
        self, stage_id: str, kind: str, content: str | None, tools: list[dict[str, Any]] | None
    ) -> None:
        async with self.db.transaction() as tx:
            await self._guard(tx)
            row = await tx.fetchone(
                "SELECT COALESCE(MAX(n), 0) + 1 FROM stage_turns WHERE run_id = ? AND stage_id = ?",
                [self.run_id, stage_id],
            )
            n = int(row[0]) if row else 1
            turn = TurnRecord(
                self.run_id,
                stage_id,
                n,
                kind,
                now_ts(),
                self.redactor.value(content),
                self.redactor.value(tools),
            )
            await stages.add_turn(tx, turn)

    async def finish_run(
        self,
        status: str,
        events: Sequence[RunEvent],
        *,
        error_message: str | None = None,
        stage_status: str | None = None,
    ) -> None:
        """Make the run terminal with its closing events in one commit, then publish."""
        ts = now_ts()
        async with self.db.transaction() as tx:
            await self._guard(tx)
            if stage_status:
                await stages.close_running_stages(tx, self.run_id, stage_status, ts)
            await questions.withdraw_pending(tx, self.run_id, ts)
            await runs.update_run(
                tx,
                self.run_id,
                status=status,
                error_message=error_message,
                finished_at=ts,
                updated_at=ts,
                owner_pid=None,
            )
            stored = await runs.append_events(tx, self.run_id, self._new(events), ts)
        self._published(stored)


class ChildRecorder(Recorder):
    """A manager node's child workflow: events only, at a deeper child_depth."""

    @property
    def records_state(self) -> bool:
        return False

    async def stage_started(self, stage: StageRecord, event: RunEvent | None) -> None:
        if event is not None:
            await self.emit(event)

    async def stage_finished(
        self,
        stage_id: str,
        finish: StageFinish,
        events: Sequence[RunEvent],
        checkpoint: dict[str, Any] | None,
        current_node: str | None,
    ) -> None:
        if events:
            await self.emit(*events)

    async def set_attempts(self, stage_id: str, attempts: int) -> None:
        return None

    async def add_turn(
        self, stage_id: str, kind: str, content: str | None, tools: list[dict[str, Any]] | None
    ) -> None:
        return None

    async def finish_run(
        self,
        status: str,
        events: Sequence[RunEvent],
        *,
        error_message: str | None = None,
        stage_status: str | None = None,
    ) -> None:
        """A child's end is only events in the parent's stream; the parent run goes on."""
        if events:
            await self.emit(*events)
