"""Persist, then publish: how the engine writes a run's events, stages and checkpoints.

Every write is one atomic write on the single write path; events get their per-run sequence
inside it and are handed to ``publish`` only after the commit. Each write first checks that
the run is still active, so a run cancelled by a client never gets another event: the
engine's write is rolled back and it learns the run is gone (``RunNotActive``).

Writes made while a stage runs (StageStarted, agent events, turns) are *streamed*: queued on
the write path without waiting for their commit, so the stage goes on while the writer
thread commits them, in order, within STREAM_S (so they still stream live), publishing each
once committed. The per-stage commit is queued too: the next stage begins while the writer
commits it, and whatever reaches outside the database (a program, a tool, a real LLM call)
first waits for every write queued before it (``settle``), so after a crash only the
interrupted stage can have had effects that run again. The run's end and every other write
wait for their commit, and with it for everything queued before.

The writes queued in one turn of the event loop (a fast stage's whole output, or several
stages') are *one* database write, a batch: one guard, one insert of all their events. It is
handed to the write path at the end of the turn, or as soon as any other write is queued
(``Database.defer``), so it keeps its place in the order of all writes.

A queued write that failed is raised by the next write or wait of this recorder, and the
writes queued after it until then fail too (an *epoch* of writes is all or a prefix): a stage
whose per-stage commit failed never has a later stage's row, turn or checkpoint delta stored.
A write that failed for lack of space (``InsufficientStorage``) ends the recorder's writes
for good: the engine stops, the run stays `running` and is resumed from its checkpoint once
the disk has room again (fabro.engine.scheduler).

Event payloads and turns are redacted before they are stored. The checkpoint is stored as
the engine's real state (a resumed run must continue with real values, not `[REDACTED]`);
the API redacts it when it serves it.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

from fabro.clock import SYSTEM_CLOCK, Clock, now_ts
from fabro.engine.batch import Batch, CheckpointUpdate, StageStart
from fabro.errors import InsufficientStorage
from fabro.events.redact import Redactor
from fabro.events.types import RunEvent
from fabro.storage.records import EventRecord, NewEvent
from fabro.storage.stages import StageFinish, StageRecord
from fabro.storage.store import NewTurn, RunNotActive, Store, Write, outcome_of

__all__ = ["CheckpointUpdate", "ChildRecorder", "Publish", "Recorder", "RunNotActive"]

Publish = Callable[[EventRecord], None]
STREAM_S = 0.01  # a streamed write is committed (and published) at most this late


class Recorder:
    """Writes one run's engine output; child workflows write through ``child()``."""

    def __init__(
        self,
        store: Store,
        run_id: str,
        publish: Publish,
        redactor: Redactor,
        child_depth: int = 0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.store = store
        self.clock = clock
        self.run_id = run_id
        self.publish = publish
        self.redactor = redactor
        self.child_depth = child_depth
        self.last_activity = time.monotonic()
        # The steering change count at which the run had no pending steering (steering.py).
        self.no_steering_at: int | None = None
        # The next checkpoint must be written whole (``StateDelta.whole``): nothing is stored
        # yet by this recorder, or a write failed and what is stored is not known.
        self.checkpoint_whole = True
        self._failure: BaseException | None = None  # of a streamed write, not raised yet
        # The run's current_node as this recorder's queued writes leave it (None: unknown).
        # Only the engine writes it, so an UPDATE that would change nothing is skipped.
        self._current_node: str | None = None
        # The latest streamed write whose effects the engine reads back (a turn that consumed
        # steering entries): reads wait for it (settle_reads).
        self._read_back: Batch | None = None
        self._latest: Batch | None = None  # the last queued write
        self._open: Batch | None = None  # writes of this loop turn, not handed over yet
        self._start: tuple[Batch, StageStart] | None = None  # the last stage start queued
        # Turns of the stages this recorder started, as far as its writes go: the next turn's
        # number is one more (a stage's start leaves it none: it is new, or its turns deleted).
        self._turn_counts: dict[str, int] = {}
        # Writes are queued in epochs; raising a failure starts the next one (see the module
        # docstring). The failed epoch and its failure are read and set by the writer thread.
        self._epoch = 0
        self._handed = 0  # batches handed over so far: each one's number in the write order
        # (epoch, number, failure) of the first failed write of an epoch, in the writer thread.
        self._broken: tuple[int, int, BaseException] | None = None
        # Once a write failed for lack of space, every later one is refused: the run is held
        # (Scheduler) and resumed from its checkpoint by a new engine, as after a restart.
        self._out_of_space: InsufficientStorage | None = None

    def wants_whole_checkpoint(self) -> bool:
        """Whether the next checkpoint must be ``StateDelta.whole`` (see ``checkpoint_whole``)."""
        return self.checkpoint_whole

    def child(self) -> Recorder:
        """A recorder whose events land in this run's stream one level deeper (manager loop)."""
        return ChildRecorder(
            self.store, self.run_id, self.publish, self.redactor, self.child_depth + 1, self.clock
        )

    def _new(self, events: Sequence[RunEvent]) -> list[NewEvent]:
        payloads = [event.to_json() for event in events]
        texts = self.redactor.encode_own(payloads)
        depth = self.child_depth
        return [
            NewEvent(event.variant, payload, depth, text)
            for event, payload, text in zip(events, payloads, texts, strict=True)
        ]

    def _submit(
        self,
        events: Sequence[RunEvent],
        work: Write[Any] | None,
        within_s: float = 0.0,
        *,
        alone: bool = False,
        ts: str | None = None,
    ) -> Batch:
        """Queue one write: guard, ``work``, the events (stamped ``ts``, default now).
        Published once committed.

        Writes queued in one turn of the event loop join one batch, handed to the database as
        one write at the end of the turn, or before any other write is queued: one guard, one
        insert of all their events, and the same place in the order of writes. ``alone``: a
        write of its own, handed over at once (after the open batch).
        """
        self._raise_failure()
        new = self._new(events)
        batch = self._open
        if batch is None or alone or batch.epoch != self._epoch:
            if batch is not None:
                self._hand_over(batch)  # earlier writes first
            batch = Batch(self._epoch, within_s, self.clock)
            if alone:
                self._latest = batch
                batch.add(work, new, ts)
                self._hand_over(batch)
                return batch
            self._open = batch
            # At the end of this turn, or before any other write is queued meanwhile.
            asyncio.get_running_loop().call_soon(self._hand_over, batch)
            self.store.defer(self._hand_over_open)
        elif within_s < batch.within_s:
            batch.within_s = within_s
        batch.add(work, new, ts)
        self._latest = batch
        return batch

    def _hand_over_open(self) -> None:
        if self._open is not None:
            self._hand_over(self._open)

    def _hand_over(self, batch: Batch) -> None:
        """Queue ``batch`` on the database's write path (once; batches in their order)."""
        if batch.future is not None:
            return
        if self._open is batch:
            self._open = None
        epoch = batch.epoch
        self._handed += 1
        number = self._handed
        commit = self.store.run_commit(self.run_id, batch.commit)

        def transaction(tx: Any) -> list[EventRecord]:
            # In the writer thread. After a failed write, the later ones of its epoch fail
            # alike. (Earlier ones may run again: a group whose commit a write failed is
            # rolled back and each of its writes runs again alone, in order.)
            broken = self._broken
            if broken is not None and broken[0] == epoch and broken[1] < number:
                raise broken[2]
            return commit(tx)

        def failed(exc: BaseException) -> None:
            # In the writer thread, before any later write runs: this write failed for good
            # (alone, its COMMIT included, which is where a full disk shows).
            broken = self._broken
            if broken is None or broken[0] != epoch or number < broken[1]:
                self._broken = (epoch, number, exc)

        future = self.store.submit(transaction, within_s=batch.within_s, failed=failed)
        # Done callbacks run in commit order, and before any task waiting for the write.
        future.add_done_callback(functools.partial(self._stored, epoch))
        batch.future = future

    def _stored(self, epoch: int, future: asyncio.Future[list[EventRecord]]) -> None:
        if future.cancelled():
            return
        failure = future.exception()  # retrieved here, so a queued failure is never "lost"
        if failure is not None:
            # The state the engine tracks for its writes is unknown now: the next checkpoint
            # is written whole and the current node again. (The writes queued after this one
            # in its epoch fail too, so no later delta is stored on top of a missing one.) A
            # failure of an epoch already raised is only the consequence of the one raised.
            self.checkpoint_whole = True
            self._current_node = None
            self._turn_counts.clear()  # turns may be missing: later ones numbered by SQL
            if self._failure is None and epoch == self._epoch:
                self._failure = failure
            return
        self.last_activity = time.monotonic()
        for record in future.result():
            self.publish(record)

    def _raise_failure(self) -> None:
        if self._out_of_space is not None:
            raise InsufficientStorage(self._out_of_space.detail) from self._out_of_space
        failure, self._failure = self._failure, None
        if failure is not None:
            self._epoch += 1
            if isinstance(failure, InsufficientStorage):
                self._out_of_space = failure
            raise failure

    async def _wait(self, batch: Batch) -> None:
        """Wait until ``batch`` (and so every write queued before it) is committed or failed;
        raise the first failure of this recorder's writes not raised yet."""
        self._hand_over(batch)
        assert batch.future is not None
        self.store.hurry()  # a streamed write is waited for: no reason to wait for company
        try:
            await outcome_of(batch.future)
        except asyncio.CancelledError:
            raise
        except BaseException:
            pass  # recorded by _stored, raised below in order
        self._raise_failure()

    async def commit(self, events: Sequence[RunEvent], work: Write[Any] | None = None) -> None:
        """One write: guard, ``work``, the events; returns once committed and published."""
        await self._wait(self._submit(events, work, alone=True))

    async def settle(self) -> None:
        """Wait until every write queued so far is committed (raising a streamed failure).

        The side-effect guard (effects.py) calls it before whatever reaches outside the database:
        after a crash, the stage's StageStarted then always records that they may have run.
        """
        latest = self._latest
        if latest is not None and not latest.done():
            await self._wait(latest)
        self._raise_failure()

    async def settle_reads(self) -> None:
        """Wait until the streamed writes that the engine reads back are committed."""
        pending = self._read_back
        if pending is not None and not pending.done():
            await self._wait(pending)

    def _stream_turn(
        self, events: Sequence[RunEvent], same_commit: Write[Any] | None, ts: str | None = None
    ) -> Batch:
        """Queue a turn's events (stamped ``ts``, default now) and ``same_commit`` (streamed);
        the batch takes the turn."""
        batch = self._submit(events, same_commit, STREAM_S, ts=ts)
        if same_commit is not None:  # it consumed steering entries: the next read must see that
            self._read_back = batch
        return batch

    async def emit(self, *events: RunEvent) -> None:
        """Stream events: they commit on their own, in order, and are published then."""
        self._submit(events, None, STREAM_S)

    def record(self, work: Write[Any], *events: RunEvent) -> None:
        """Queue ``work`` with ``events`` (streamed, like ``emit``): a receipt, committed by
        the settle of the side-effect guard that queued it (governor.py)."""
        self._submit(events, work, STREAM_S)

    async def stage_started(self, stage: StageRecord, event: RunEvent | None) -> None:
        """The stage row as running, the run's current node and StageStarted, in one write
        (streamed: the handler starts meanwhile)."""

        open_batch = self._open
        if open_batch is not None and stage.stage_id in open_batch.turn_stages:
            # The stage again (a loop restart): its start deletes its turns, so the turns
            # queued for its last run go first.
            self._hand_over(open_batch)
        start = StageStart(self.store, stage)
        # Its events and the node move are stamped with the stage's start: one reading of the
        # clock for the whole write.
        batch = self._submit([event] if event else [], start.write, STREAM_S, ts=stage.started_at)
        self._start = (batch, start)
        self._turn_counts[stage.stage_id] = 0
        if stage.parallel_parent is None and stage.node_id != self._current_node:
            batch.move_to(stage.node_id, stage.started_at)
            self._current_node = stage.node_id

    async def stage_finished(
        self,
        stage_id: str,
        finish: StageFinish,
        events: Sequence[RunEvent],
        checkpoint: CheckpointUpdate | None,
        current_node: str | None,
    ) -> None:
        """The per-stage commit (engine.md §4.2): closing events, stage row, checkpoint, node,
        in one write; queued (see the module docstring)."""
        queued, self._start = self._start, None
        self._turn_counts.pop(stage_id, None)
        try:
            batch = self._submit(events, None, ts=finish.finished_at)
        except BaseException:
            # An earlier write failed: the next checkpoint is written whole.
            self.checkpoint_whole = True
            self._current_node = None
            raise
        if queued is not None and queued[0] is batch and queued[1].stage.stage_id == stage_id:
            queued[1].finish = finish  # its start is in this batch still: one row write
        else:
            batch.add(self.store.finish_stage(self.run_id, stage_id, finish), [])
        if checkpoint is not None:
            batch.add_checkpoint(checkpoint, finish.finished_at)
            if checkpoint.whole:
                self.checkpoint_whole = False
        if current_node is not None:
            batch.move_to(current_node, finish.finished_at)
            self._current_node = current_node

    async def set_attempts(self, stage_id: str, attempts: int) -> None:
        await self.commit([], self.store.set_attempts(self.run_id, stage_id, attempts))

    async def add_turn(
        self,
        stage_id: str,
        kind: str,
        content: str | None,
        tools: list[dict[str, Any]] | None,
        events: Sequence[RunEvent] = (),
        same_commit: Write[Any] | None = None,
    ) -> None:
        """Store one LLM turn of a stage with the events (and ``same_commit``) that go with it
        (streamed)."""
        content = self.redactor.value(content)
        tools = self.redactor.value(tools)
        ts = now_ts(self.clock)
        batch = self._stream_turn(events, same_commit, ts)  # the turn's time for its events
        count = self._turn_counts.get(stage_id)
        if count is None:  # not a stage this recorder started: numbered in the insert
            batch.add(self.store.append_turn(self.run_id, stage_id, kind, ts, content, tools), [])
            return
        # Numbered here, and all the turns of one write inserted together.
        self._turn_counts[stage_id] = count + 1
        batch.commit.turns.append(NewTurn(stage_id, count + 1, kind, content, tools, ts))
        batch.turn_stages.add(stage_id)

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
        work = self.store.finish_run(
            self.run_id,
            status=status,
            ts=now_ts(self.clock),
            error_message=error_message,
            stage_status=stage_status,
            terminal_stage=terminal_stage,
        )
        await self.commit(events, work)


class ChildRecorder(Recorder):
    """A manager node's child workflow: events only, at a deeper child_depth.

    The child has no stage rows, turns or checkpoints of its own (engine.md §9.8).
    """

    def wants_whole_checkpoint(self) -> bool:
        return False  # it stores none

    async def stage_started(self, stage: StageRecord, event: RunEvent | None) -> None:
        if event is not None:
            await self.emit(event)

    async def stage_finished(
        self,
        stage_id: str,
        finish: StageFinish,
        events: Sequence[RunEvent],
        checkpoint: CheckpointUpdate | None,
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
        same_commit: Write[Any] | None = None,
    ) -> None:
        self._stream_turn(events, same_commit)

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
