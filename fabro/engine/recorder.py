"""Persist, then publish: how the engine writes a run's events, stages and checkpoints.

Every write is one transaction on the single write path; events get their per-run sequence
inside it and are handed to ``publish`` only after the commit. Each transaction first checks
that the run is still active, so a run cancelled by a client never gets another event: the
engine's write is rolled back and it learns the run is gone (``RunNotActive``).

Event payloads and turns are redacted before they are stored. The checkpoint is stored as
the engine's real state (a resumed run must continue with real values, not `[REDACTED]`);
the API redacts it when it serves it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from fabro.clock import now_ts
from fabro.events.redact import Redactor
from fabro.events.types import RunEvent
from fabro.storage import questions, runs, stages
from fabro.storage.db import Database, WriteTx
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
        return ChildRecorder(
            self.db, self.run_id, self.publish, self.redactor, self.child_depth + 1
        )

    def _new(self, events: Sequence[RunEvent]) -> list[NewEvent]:
        return [
            NewEvent.of(self.redactor.value(event.to_json()), self.child_depth) for event in events
        ]

    def _guard(self, tx: WriteTx) -> None:
        row = tx.fetchone("SELECT status FROM runs WHERE id = ?", [self.run_id])
        if row is None or row[0] not in ACTIVE:
            raise RunNotActive(self.run_id)

    async def commit(
        self, events: Sequence[RunEvent], work: Callable[[WriteTx], None] | None = None
    ) -> None:
        """One transaction: guard, ``work``, the events; then publish what was stored."""
        new = self._new(events)
        ts = now_ts()

        def transaction(tx: WriteTx) -> list[EventRecord]:
            self._guard(tx)
            if work is not None:
                work(tx)
            return runs.append_events(tx, self.run_id, new, ts) if new else []

        stored = await self.db.write(transaction)
        self.last_activity = time.monotonic()
        for record in stored:
            self.publish(record)

    async def emit(self, *events: RunEvent) -> None:
        """Commit events on their own (they stream live while a stage runs), then publish."""
        await self.commit(events)

    async def stage_started(self, stage: StageRecord, event: RunEvent | None) -> None:
        """The stage row as running, the run's current node and StageStarted, in one commit."""

        def work(tx: WriteTx) -> None:
            stages.start_stage(tx, stage)
            if stage.parallel_parent is None:
                runs.update_run(tx, self.run_id, current_node=stage.node_id, updated_at=now_ts())

        await self.commit([event] if event else [], work)

    async def stage_finished(
        self,
        stage_id: str,
        finish: StageFinish,
        events: Sequence[RunEvent],
        checkpoint: dict[str, Any] | None,
        current_node: str | None,
    ) -> None:
        """The per-stage commit (engine.md §4.2): closing events, stage row, checkpoint, node."""
        # Serialized here, on the engine's thread: the state it shares keeps changing.
        saved = json.dumps(checkpoint, ensure_ascii=False) if checkpoint is not None else None

        def work(tx: WriteTx) -> None:
            stages.finish_stage(tx, self.run_id, stage_id, finish)
            if saved is not None:
                runs.save_checkpoint(tx, self.run_id, saved, now_ts())
            if current_node is not None:
                runs.update_run(tx, self.run_id, current_node=current_node, updated_at=now_ts())

        await self.commit(events, work)

    async def set_attempts(self, stage_id: str, attempts: int) -> None:
        await self.commit([], lambda tx: stages.set_attempts(tx, self.run_id, stage_id, attempts))

    async def add_turn(
        self,
        stage_id: str,
        kind: str,
        content: str | None,
        tools: list[dict[str, Any]] | None,
        events: Sequence[RunEvent] = (),
        also: Callable[[WriteTx], None] | None = None,
    ) -> None:
        """Store one LLM turn of a stage with the events (and ``also``) that go with it."""
        content = self.redactor.value(content)
        tools = self.redactor.value(tools)

        def work(tx: WriteTx) -> None:
            if also is not None:
                also(tx)
            row = tx.fetchone(
                "SELECT COALESCE(MAX(n), 0) + 1 FROM stage_turns WHERE run_id = ? AND stage_id = ?",
                [self.run_id, stage_id],
            )
            n = int(row[0]) if row else 1
            stages.add_turn(
                tx, TurnRecord(self.run_id, stage_id, n, kind, now_ts(), content, tools)
            )

        await self.commit(events, work)

    async def finish_run(
        self,
        status: str,
        events: Sequence[RunEvent],
        *,
        error_message: str | None = None,
        stage_status: str | None = None,
        terminal_stage: StageRecord | None = None,
    ) -> None:
        """Make the run terminal with its closing events in one commit, then publish.

        ``terminal_stage``: the exit node's stage, stored as completed in the same commit.
        """
        ts = now_ts()

        def work(tx: WriteTx) -> None:
            if terminal_stage is not None:
                stages.start_stage(tx, terminal_stage)
                finish = StageFinish("completed", ts, 0, 1, {"status": "success", "duration_ms": 0})
                stages.finish_stage(tx, self.run_id, terminal_stage.stage_id, finish)
            if stage_status:
                stages.close_running_stages(tx, self.run_id, stage_status, ts)
            questions.withdraw_pending(tx, self.run_id, ts)
            runs.update_run(
                tx,
                self.run_id,
                status=status,
                error_message=error_message,
                finished_at=ts,
                updated_at=ts,
                owner_pid=None,
            )

        await self.commit(events, work)


class ChildRecorder(Recorder):
    """A manager node's child workflow: events only, at a deeper child_depth.

    The child has no stage rows, turns or checkpoints of its own (engine.md §9.8).
    """

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
        self,
        stage_id: str,
        kind: str,
        content: str | None,
        tools: list[dict[str, Any]] | None,
        events: Sequence[RunEvent] = (),
        also: Callable[[WriteTx], None] | None = None,
    ) -> None:
        await self.commit(events, also)

    async def finish_run(
        self,
        status: str,
        events: Sequence[RunEvent],
        *,
        error_message: str | None = None,
        stage_status: str | None = None,
        terminal_stage: StageRecord | None = None,
    ) -> None:
        """A child's end is only events in the parent's stream; the parent run goes on."""
        if events:
            await self.emit(*events)
