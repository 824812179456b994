"""The ``Store`` over one SQLite ``Database``: each method one write through its single writer."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fabro.storage import events, questions, run_commits, runs, space, stages, steering
from fabro.storage.db import Database
from fabro.storage.questions import QuestionRecord
from fabro.storage.receipts import ReceiptRecord, Receipts
from fabro.storage.records import (
    CheckpointRecord,
    EventRecord,
    IdempotencyRecord,
    NewEvent,
    Page,
    RunFilter,
    RunRecord,
    RunSummary,
)
from fabro.storage.stages import (
    StageFinish,
    StageRecord,
    TurnRecord,
    UsageGroup,
    UsageTotals,
)
from fabro.storage.steering import SteeringRecord
from fabro.storage.store import (
    UNFINISHED,
    IdempotencyCheck,
    IdempotencyConflict,
    Moved,
    RunCommit,
    Write,
)
from fabro.storage.writer import WriteTx

T = TypeVar("T")


class SqliteStore:
    """Runs, events, questions and steering in one SQLite database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ---- runs ----

    async def create_run(
        self,
        run: RunRecord,
        queued: Callable[[int], NewEvent],
        idempotency: IdempotencyCheck | None = None,
    ) -> tuple[RunRecord, list[EventRecord]]:
        # The key is looked up and remembered inside the creating transaction, so concurrent
        # requests with one key are serialized by the single writer and only one run exists.
        def transaction(tx: WriteTx) -> tuple[RunRecord, list[EventRecord]]:
            if idempotency is not None:
                existing = _remembered_run(tx, idempotency)
                if existing is not None:
                    return existing, []
            runs.insert_run(tx, run)
            event = queued(runs.count_queued_in(tx))
            stored = events.append_events(tx, run.id, [event], run.created_at)
            if idempotency is not None:
                runs.remember_idempotency_key(
                    tx,
                    IdempotencyRecord(
                        idempotency.principal,
                        idempotency.key,
                        idempotency.request_hash,
                        run.id,
                        run.created_at,
                    ),
                )
            return run, stored

        return await self.db.write(transaction)

    async def move_run(
        self,
        run_id: str,
        allowed_from: Sequence[str],
        events: Sequence[NewEvent] = (),
        **changes: Any,
    ) -> Moved:
        def transaction(tx: WriteTx) -> Moved:
            moved = runs.transition(tx, run_id, allowed_from, **changes)
            if moved is None:
                return None, []
            return moved, _append(tx, run_id, events, changes["updated_at"])

        return await self.db.write(transaction)

    async def end_run(
        self, run_id: str, status: str, event: Callable[[RunRecord], NewEvent], **changes: Any
    ) -> Moved:
        def transaction(tx: WriteTx) -> Moved:
            current = runs.get_run_in(tx, run_id)
            if current is None or current.status not in UNFINISHED:
                return None, []
            ts = changes["updated_at"]
            moved = runs.transition(tx, run_id, UNFINISHED, status=status, **changes)
            stages.close_running_stages(tx, run_id, status, ts)
            questions.withdraw_pending(tx, run_id, ts)
            return moved, _append(tx, run_id, [event(current)], ts)

        return await self.db.write(transaction)

    async def reclaim_run(
        self, run_id: str, event: NewEvent, *, keep_paused: bool, owner_pid: int, ts: str
    ) -> Moved:
        def transaction(tx: WriteTx) -> Moved:
            run = runs.get_run_in(tx, run_id)
            if run is None or (run.is_terminal and run.status != "cancelled"):
                return None, []
            status = "paused" if run.status == "paused" and keep_paused else "running"
            moved = runs.transition(
                tx,
                run_id,
                ["starting", "running", "paused", "cancelled"],
                status=status,
                owner_pid=owner_pid,
                started_at=run.started_at or ts,
                finished_at=None,
                updated_at=ts,
            )
            return moved, _append(tx, run_id, [event], ts)

        return await self.db.write(transaction)

    async def get_run(self, run_id: str) -> RunRecord | None:
        return await runs.get_run(self.db, run_id)

    async def runs_with_status(
        self, statuses: Sequence[str], *, limit: int = -1
    ) -> list[RunRecord]:
        return await runs.runs_with_status(self.db, statuses, limit=limit)

    async def get_checkpoint(self, run_id: str) -> CheckpointRecord | None:
        return await runs.get_checkpoint(self.db, run_id)

    async def writable(self) -> bool:
        return await space.writable(self.db)

    # ---- reads for the API: runs ----

    async def get_run_summary(self, run_id: str) -> RunSummary | None:
        return await runs.get_run_summary(self.db, run_id)

    async def list_runs(
        self,
        *,
        limit: int,
        offset: int,
        statuses: Sequence[str] = (),
        workflow_slug: str | None = None,
    ) -> Page[RunSummary]:
        return await runs.list_runs(
            self.db, limit=limit, offset=offset, statuses=statuses, workflow_slug=workflow_slug
        )

    async def find_runs(self, match: RunFilter, *, limit: int, offset: int) -> Page[RunSummary]:
        return await runs.find_runs(self.db, match, limit=limit, offset=offset)

    async def count_runs_by_state(self, match: RunFilter) -> dict[tuple[str, bool], int]:
        return await runs.count_runs_by_state(self.db, match)

    async def remembered_key(self, check: IdempotencyCheck) -> IdempotencyRecord | None:
        return await runs.remembered_key(self.db, check.principal, check.key, check.not_before)

    async def queue_position(self, run: RunRecord | RunSummary) -> int | None:
        return await runs.queue_position(self.db, run)

    async def queue_positions(self) -> dict[str, int]:
        return await runs.queue_positions(self.db)

    async def count_started_runs(self, since: str | None = None, until: str | None = None) -> int:
        return await stages.count_started_runs(self.db, since, until)

    # ---- events ----

    async def events_after(self, run_id: str, after: int, limit: int = 1000) -> list[EventRecord]:
        return await events.events_after(self.db, run_id, after, limit)

    async def last_seq(self, run_id: str) -> int:
        return await events.last_seq(self.db, run_id)

    # ---- questions ----

    def create_question(
        self,
        *,
        run_id: str,
        stage_id: str,
        node_id: str,
        text: str,
        question_type: str,
        options: list[dict[str, str]],
        allow_freeform: bool,
        created_at: str,
    ) -> Write[QuestionRecord]:
        return functools.partial(
            questions.create_question,
            run_id=run_id,
            stage_id=stage_id,
            node_id=node_id,
            text=text,
            question_type=question_type,
            options=options,
            allow_freeform=allow_freeform,
            created_at=created_at,
        )

    async def commit(self, write: Write[T]) -> T:
        return await self.db.write(write)

    async def get_question(self, run_id: str, qid: str) -> QuestionRecord | None:
        return await questions.get_question(self.db, run_id, qid)

    async def latest_question(self, run_id: str, stage_id: str) -> QuestionRecord | None:
        return await questions.latest_for_stage(self.db, run_id, stage_id)

    async def answer_question(
        self, run_id: str, qid: str, answer: dict[str, Any], by: str | None, ts: str
    ) -> bool:
        return await self.db.write(
            lambda tx: questions.answer_question(tx, run_id, qid, answer, by, ts)
        )

    async def close_question(self, run_id: str, qid: str, status: str, ts: str) -> None:
        await self.db.write(lambda tx: questions.close_question(tx, run_id, qid, status, ts))

    # ---- reads for the API: questions ----

    async def pending_questions(self, run_id: str) -> list[QuestionRecord]:
        return await questions.pending_questions(self.db, run_id)

    async def oldest_pending(self, run_ids: Sequence[str]) -> dict[str, QuestionRecord]:
        return await questions.oldest_pending(self.db, run_ids)

    # ---- receipts ----

    async def receipt_by_key(self, idempotency_key: str) -> ReceiptRecord | None:
        return await Receipts(self.db).by_key(idempotency_key)

    # ---- steering ----

    async def add_steering(
        self,
        *,
        run_id: str,
        guidance: str,
        location: dict[str, Any] | None,
        created_by: str | None,
        created_at: str,
    ) -> SteeringRecord:
        return await self.db.write(
            functools.partial(
                steering.add_steering,
                run_id=run_id,
                guidance=guidance,
                location=location,
                created_by=created_by,
                created_at=created_at,
            )
        )

    async def steer(
        self,
        statuses: Sequence[str],
        *,
        run_id: str,
        guidance: str,
        location: dict[str, Any] | None,
        created_by: str | None,
        created_at: str,
    ) -> SteeringRecord | None:
        def transaction(tx: WriteTx) -> SteeringRecord | None:
            current = runs.get_run_in(tx, run_id)
            if current is None or current.status not in statuses:
                return None
            return steering.add_steering(
                tx,
                run_id=run_id,
                guidance=guidance,
                location=location,
                created_by=created_by,
                created_at=created_at,
            )

        return await self.db.write(transaction)

    def steering_version(self) -> int:
        return self.db.change_count(steering.STEERING_ADDED)

    async def pending_steering(self, run_id: str) -> list[SteeringRecord]:
        return await steering.pending_steering(self.db, run_id)

    def consume_steering(
        self, run_id: str, numbers: list[int], stage_id: str, ts: str
    ) -> Write[None]:
        return functools.partial(
            steering.consume_steering, run_id=run_id, numbers=numbers, stage_id=stage_id, ts=ts
        )

    # ---- a run recorder's commits ----

    def run_commit(self, run_id: str, commit: RunCommit) -> Write[list[EventRecord]]:
        return functools.partial(run_commits.run_commit, run_id=run_id, commit=commit)

    def start_stage(self, stage: StageRecord, finish: StageFinish | None = None) -> Write[None]:
        return functools.partial(stages.start_stage, stage=stage, finish=finish)

    def finish_stage(self, run_id: str, stage_id: str, finish: StageFinish) -> Write[None]:
        return functools.partial(
            stages.finish_stage, run_id=run_id, stage_id=stage_id, finish=finish
        )

    def set_attempts(self, run_id: str, stage_id: str, attempts: int) -> Write[None]:
        return functools.partial(
            stages.set_attempts, run_id=run_id, stage_id=stage_id, attempts=attempts
        )

    def append_turn(
        self,
        run_id: str,
        stage_id: str,
        kind: str,
        created_at: str,
        content: str | None,
        tools: list[dict[str, Any]] | None,
    ) -> Write[None]:
        return functools.partial(
            stages.append_turn,
            run_id=run_id,
            stage_id=stage_id,
            kind=kind,
            created_at=created_at,
            content=content,
            tools=tools,
        )

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        ts: str,
        error_message: str | None,
        stage_status: str | None,
        terminal_stage: StageRecord | None,
    ) -> Write[None]:
        return functools.partial(
            run_commits.finish_run,
            run_id=run_id,
            status=status,
            ts=ts,
            error_message=error_message,
            stage_status=stage_status,
            terminal_stage=terminal_stage,
        )

    def submit(
        self,
        write: Write[T],
        *,
        within_s: float = 0.0,
        failed: Callable[[BaseException], None] | None = None,
    ) -> asyncio.Future[T]:
        return self.db.submit(write, within_s=within_s, failed=failed)

    def defer(self, queue_it: Callable[[], None]) -> None:
        self.db.defer(queue_it)

    def hurry(self) -> None:
        self.db.hurry()

    # ---- reads for the API: stages ----

    async def usage_by_model(self, run_ids: Sequence[str] | None = None) -> list[UsageTotals]:
        return await stages.usage_by_model(self.db, run_ids)

    async def usage_by(
        self, groupings: tuple[str, ...], since: str | None = None, until: str | None = None
    ) -> list[UsageGroup]:
        return await stages.usage_by(self.db, groupings, since, until)

    async def list_stages(self, run_id: str) -> list[StageRecord]:
        return await stages.list_stages(self.db, run_id)

    async def get_stage(self, run_id: str, stage_id: str) -> StageRecord | None:
        return await stages.get_stage(self.db, run_id, stage_id)

    async def list_turns(self, run_id: str, stage_id: str) -> list[TurnRecord]:
        return await stages.list_turns(self.db, run_id, stage_id)


def _remembered_run(tx: WriteTx, idempotency: IdempotencyCheck) -> RunRecord | None:
    """The run an Idempotency-Key names already (None: none, or it is gone)."""
    found = runs.find_idempotency_key(
        tx, idempotency.principal, idempotency.key, idempotency.not_before
    )
    if found is None:
        return None
    if found.request_hash != idempotency.request_hash:
        raise IdempotencyConflict(idempotency.key)
    return runs.get_run_in(tx, found.run_id)


def _append(tx: WriteTx, run_id: str, new: Sequence[NewEvent], ts: str) -> list[EventRecord]:
    return events.append_events(tx, run_id, new, ts) if new else []
