"""Run status transitions (engine.md §1, §3, §5, §7), each committed with its event.

Shared by the server's scheduler and by standalone `fabro run`: creating a run, starting it
(run folder, working directory), recovering it after a crash, pausing, unpausing and
cancelling. The engine itself only writes stage progress and the terminal status.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ulid import ULID

from fabro.clock import SYSTEM_CLOCK, Clock, now_ts
from fabro.engine.recorder import Publish
from fabro.events.redact import Redactor
from fabro.events.types import (
    FabroErrorPayload,
    RunCancelled,
    RunEvent,
    RunPaused,
    RunQueued,
    RunResumed,
    WorkflowRunFailed,
    WorkflowRunStarted,
)
from fabro.filemodes import ensure_private_dir
from fabro.storage.records import EventRecord, NewEvent, RunRecord
from fabro.storage.space import classified, is_disk_full
from fabro.storage.store import IdempotencyCheck, Moved, Store
from fabro.workflow.model import Graph


def new_run_id() -> str:
    return str(ULID())


def default_title(goal: str, graph: Graph) -> str:
    """The first line of the goal cut to 100 characters, else the label, else the name."""
    first = goal.strip().splitlines()[0].strip() if goal.strip() else ""
    if first:
        return first[:100]
    return graph.label or graph.name


@dataclass(frozen=True)
class NewRun:
    graph: Graph
    dot_source: str
    title: str
    goal: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    vars: dict[str, str] = field(default_factory=dict)
    workflow_slug: str | None = None
    source_name: str = "graph.dot"
    config: dict[str, Any] = field(default_factory=dict)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False
    created_by: str | None = None


class Lifecycle:
    """Status transitions of the runs of one store."""

    def __init__(
        self,
        store: Store,
        publish: Publish,
        redactor: Redactor,
        data_dir: Path,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.store = store
        self.clock = clock
        self.publish = publish
        self.redactor = redactor
        self.data_dir = data_dir

    def run_dir(self, run_id: str) -> Path:
        return self.data_dir / "runs" / run_id

    def _new(self, event: RunEvent) -> NewEvent:
        return NewEvent.of(self.redactor.value(event.to_json()))

    def _publish(self, stored: Sequence[EventRecord]) -> None:
        for record in stored:
            self.publish(record)

    def _published(self, moved: Moved) -> RunRecord | None:
        self._publish(moved[1])
        return moved[0]

    async def create(self, new: NewRun, run_id: str | None = None) -> RunRecord:
        """Store a queued run with `RunQueued` (seq 1)."""
        run, _ = await self.create_once(new, None, run_id)
        return run

    async def create_once(
        self, new: NewRun, idempotency: IdempotencyCheck | None, run_id: str | None = None
    ) -> tuple[RunRecord, bool]:
        """Create a run unless ``idempotency`` names one already; returns (run, created)."""
        ts = now_ts(self.clock)
        record = RunRecord(
            id=run_id or new_run_id(),
            status="queued",
            title=new.title,
            graph_name=new.graph.name,
            dot_source=new.dot_source,
            prepared_graph=new.graph.to_json(),
            created_at=ts,
            updated_at=ts,
            workflow_slug=new.workflow_slug,
            goal=new.goal,
            labels=dict(new.labels),
            vars=dict(new.vars),
            source_name=new.source_name,
            config=dict(new.config),
            warnings=list(new.warnings),
            dry_run=new.dry_run,
            created_by=new.created_by,
        )

        def queued(position: int) -> NewEvent:
            return self._new(RunQueued(run_id=record.id, queue_position=position))

        run, stored = await self.store.create_run(record, queued, idempotency)
        self._publish(stored)
        return run, bool(stored)

    async def start(self, run: RunRecord, workflow_dir: Path | None = None) -> Path | None:
        """queued -> starting -> running (engine.md §3); returns the working directory.

        On a setup error the run fails with `Engine error: <reason>` and None is returned.
        """
        moved, _ = await self.store.move_run(
            run.id, ["queued", "starting"], status="starting", updated_at=now_ts(self.clock)
        )
        if moved is None:
            return None
        try:
            work_dir = self.prepare_dirs(moved, workflow_dir)
        except OSError as exc:
            if is_disk_full(exc):  # the run waits for room (Scheduler), it does not fail
                raise classified(exc) from exc
            await self.fail(moved.id, f"cannot set up the run: {exc.strerror or exc}")
            return None
        except ValueError as exc:
            await self.fail(moved.id, str(exc))
            return None

        ts = now_ts(self.clock)
        started, stored = await self.store.move_run(
            run.id,
            ["starting"],
            [self._new(WorkflowRunStarted(name=run.graph_name, run_id=run.id))],
            status="running",
            started_at=moved.started_at or ts,
            updated_at=ts,
            owner_pid=os.getpid(),
        )
        if started is None:
            return None
        self._publish(stored)
        return work_dir

    def prepare_dirs(self, run: RunRecord, workflow_dir: Path | None) -> Path:
        """`runs/<id>/graph.dot` and the working directory (idempotent, for recovery).

        The run's folder is the owner's only (0700): stage files hold prompts and outputs."""
        folder = self.run_dir(run.id)
        ensure_private_dir(folder)
        (folder / run.source_name).write_text(run.dot_source, encoding="utf-8")
        directory = run.config.get("directory")
        if directory:
            path = Path(str(directory)).expanduser()
            if not path.is_absolute():
                path = (workflow_dir or folder) / path
            if not path.is_dir():
                raise ValueError(f"working directory does not exist: {path}")
            return path.resolve()
        work = folder / "work"
        work.mkdir(exist_ok=True)
        return work.resolve()

    async def fail(self, run_id: str, message: str) -> None:
        error = FabroErrorPayload(kind="engine", message=message, failure_class="deterministic")

        ts = now_ts(self.clock)
        failed = self._new(WorkflowRunFailed(error=error, duration_ms=0))
        self._published(
            await self.store.end_run(
                run_id,
                "failed",
                lambda _: failed,
                error_message=f"Engine error: {message}",
                finished_at=ts,
                updated_at=ts,
            )
        )

    async def resumed(
        self, run_id: str, reason: str, *, keep_paused: bool = True
    ) -> RunRecord | None:
        """Recovery (or `fabro run --resume`): claim the run for this process; RunResumed.

        The server keeps paused runs paused; `fabro run --resume` continues them.
        """

        event = self._new(RunResumed(run_id=run_id, reason=reason))
        return self._published(
            await self.store.reclaim_run(
                run_id, event, keep_paused=keep_paused, owner_pid=os.getpid(), ts=now_ts(self.clock)
            )
        )

    async def pause(self, run_id: str) -> RunRecord | None:
        return await self._move(run_id, ["running"], "paused", RunPaused(run_id=run_id))

    async def unpause(self, run_id: str) -> RunRecord | None:
        return await self._move(
            run_id, ["paused"], "running", RunResumed(run_id=run_id, reason="unpause")
        )

    async def cancel(self, run_id: str) -> RunRecord | None:
        """Any non-terminal run -> cancelled, with its running stage and questions closed."""

        def cancelled(current: RunRecord) -> NewEvent:
            node = current.current_node if current.status in ("running", "paused") else None
            return self._new(RunCancelled(run_id=run_id, node_id=node))

        ts = now_ts(self.clock)
        return self._published(
            await self.store.end_run(
                run_id, "cancelled", cancelled, finished_at=ts, updated_at=ts, owner_pid=None
            )
        )

    async def _move(
        self, run_id: str, allowed: list[str], status: str, event: RunEvent
    ) -> RunRecord | None:

        moved = await self.store.move_run(
            run_id, allowed, [self._new(event)], status=status, updated_at=now_ts(self.clock)
        )
        return self._published(moved)
