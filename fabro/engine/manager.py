"""The server's runs: FIFO scheduling, engine tasks, recovery, pause/unpause/cancel.

engine.md §2 (scheduler) and §5 (recovery). One RunManager per server process. It owns every
engine task; on shutdown it cancels them without touching run statuses, so the next start
recovers them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabro.config import LlmSettings
from fabro.engine.control import RunControl
from fabro.engine.lifecycle import IdempotencyCheck, Lifecycle, NewRun
from fabro.engine.questions import QuestionDesk, StoredAnswers
from fabro.engine.recorder import Recorder, RunNotActive
from fabro.engine.runner import Engine
from fabro.engine.stage import EngineDeps, LlmLevels, RunSpec
from fabro.engine.state import EngineState
from fabro.events.bus import EventBus
from fabro.events.redact import Redactor, secret_values
from fabro.llm.provider import LlmBackend
from fabro.llm.resolve import LevelChoice
from fabro.storage import runs
from fabro.storage.db import Database
from fabro.storage.records import EventRecord, RunRecord
from fabro.workflow.model import Graph

log = logging.getLogger(__name__)

SCHEDULER_PERIOD_S = 1.0
TERMINAL_VARIANTS = frozenset({"WorkflowRunCompleted", "WorkflowRunFailed", "RunCancelled"})


@dataclass
class ActiveRun:
    task: asyncio.Task[None]
    control: RunControl
    engine: Engine | None = None


class RunManager:
    """Admits queued runs, executes them, and carries out clients' state changes."""

    def __init__(
        self,
        db: Database,
        data_dir: Path,
        max_concurrent_runs: int,
        llm: LlmBackend,
        env: Mapping[str, str],
        llm_settings: Callable[[], LlmSettings],
        dry_run: bool = False,
    ) -> None:
        self.db = db
        self.max_concurrent_runs = max_concurrent_runs
        self.bus: EventBus[EventRecord] = EventBus()
        self.redactor = Redactor(secret_values(env))
        self.lifecycle = Lifecycle(db, self.publish, self.redactor, data_dir)
        self.desk = QuestionDesk(db)
        self.deps = EngineDeps(
            llm=llm, interviewer=StoredAnswers(), desk=self.desk, env=env, dry_run=dry_run
        )
        self.llm_settings = llm_settings
        self._active: dict[str, ActiveRun] = {}
        self._wake = asyncio.Event()
        self._scheduler: asyncio.Task[None] | None = None
        self._closing = False

    # ---- events ----

    def publish(self, record: EventRecord) -> None:
        """Hand a committed event to live subscribers; end the stream after a terminal one."""
        self.bus.publish(record.run_id, record.seq, record)
        if record.child_depth == 0 and record.variant in TERMINAL_VARIANTS:
            self.bus.close(record.run_id)
            self._wake.set()

    # ---- lifecycle of the manager ----

    async def start(self) -> None:
        """Recover interrupted runs (admitted even over the limit), then start scheduling."""
        for run in await runs.runs_with_status(self.db, ["starting", "running", "paused"]):
            self._launch(run, recovered=run.status != "starting")
        self._scheduler = asyncio.create_task(self._schedule(), name="scheduler")
        self._wake.set()

    async def close(self) -> None:
        """Cancel every engine task without changing run statuses (they recover next start)."""
        self._closing = True
        tasks = [active.task for active in self._active.values()]
        if self._scheduler is not None:
            tasks.append(self._scheduler)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.bus.close_all()

    # ---- scheduling ----

    def notify(self) -> None:
        self._wake.set()

    async def _schedule(self) -> None:
        while not self._closing:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
            # that arrives as the event is set, and close() then waits for this task forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SCHEDULER_PERIOD_S):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._admit()
            except Exception:  # the scheduler must survive a bad moment; it retries in 1 s
                log.exception("scheduler pass failed")

    async def _admit(self) -> None:
        # Every starting, running or paused run of this server has its engine task here, so
        # the count needs no query: loading every active run (graph JSON and all) on each
        # pass blocked the event loop for ~250 ms with 1,000 runs parked at human gates.
        active = len(self._active)
        if active >= self.max_concurrent_runs:
            return
        # Launched runs may still read `queued`, so up to len(self._active) of the oldest are
        # skipped: max_concurrent_runs rows always cover the free slots.
        queued = await runs.runs_with_status(self.db, ["queued"], limit=self.max_concurrent_runs)
        for run in queued:
            if active >= self.max_concurrent_runs or self._closing:
                return
            if run.id in self._active:
                continue
            self._launch(run, recovered=False)
            active += 1

    def _launch(self, run: RunRecord, *, recovered: bool) -> None:
        control = RunControl(paused=run.status == "paused")
        task = asyncio.create_task(self._execute(run, control, recovered), name=f"run-{run.id}")
        self._active[run.id] = ActiveRun(task, control)
        task.add_done_callback(lambda _task: self._finished(run.id))

    def _finished(self, run_id: str) -> None:
        self._active.pop(run_id, None)
        self._wake.set()

    async def _execute(self, run: RunRecord, control: RunControl, recovered: bool) -> None:
        workflow_dir = (
            Path(str(run.config["workflow_dir"])) if run.config.get("workflow_dir") else None
        )
        state: EngineState | None = None
        try:
            if recovered:
                claimed = await self.lifecycle.resumed(run.id, "recovery")
                if claimed is None:
                    return
                work_dir: Path | None = self.lifecycle.prepare_dirs(claimed, workflow_dir)
                checkpoint = await runs.get_checkpoint(self.db, run.id)
                state = EngineState.from_checkpoint(checkpoint.data) if checkpoint else None
            else:
                work_dir = await self.lifecycle.start(run, workflow_dir)
            if work_dir is None:
                return
            spec = RunSpec(
                run_id=run.id,
                graph=Graph.from_json(run.prepared_graph),
                run_dir=self.lifecycle.run_dir(run.id),
                work_dir=work_dir,
                workflow_dir=workflow_dir,
                vars=dict(run.vars),
                llm=self._levels(run),
            )
            recorder = Recorder(self.db, run.id, self.publish, self.redactor)
            engine = Engine(spec, self.deps, recorder, control=control)
            self._active[run.id].engine = engine
            await engine.run(state, recovered=recovered)
        except RunNotActive:
            pass  # cancelled by a client while the engine was writing
        except (OSError, ValueError) as exc:
            await self.lifecycle.fail(run.id, f"cannot set up the run: {exc}")
        except Exception as exc:
            log.exception("run %s failed with an unexpected error", run.id)
            await self.lifecycle.fail(run.id, f"internal error: {type(exc).__name__}")

    def _levels(self, run: RunRecord) -> LlmLevels:
        llm: dict[str, Any] = run.config.get("llm") or {}
        server = self.llm_settings()
        return LlmLevels(
            run_config=LevelChoice(llm.get("model"), llm.get("provider")),
            server_default=LevelChoice(server.model, server.provider),
        )

    # ---- client actions ----

    async def create(
        self, new: NewRun, idempotency: IdempotencyCheck | None = None
    ) -> tuple[RunRecord, bool]:
        """Store a queued run (or find the one its Idempotency-Key names); wake the scheduler."""
        run, created = await self.lifecycle.create_once(new, idempotency)
        if created:
            self._wake.set()
        return run, created

    async def cancel(self, run_id: str) -> RunRecord | None:
        cancelled = await self.lifecycle.cancel(run_id)
        if cancelled is not None:
            active = self._active.get(run_id)
            if active is not None:
                active.task.cancel()
        return cancelled

    async def pause(self, run_id: str) -> RunRecord | None:
        paused = await self.lifecycle.pause(run_id)
        active = self._active.get(run_id)
        if paused is not None and active is not None:
            active.control.pause()
        return paused

    async def unpause(self, run_id: str) -> RunRecord | None:
        resumed = await self.lifecycle.unpause(run_id)
        active = self._active.get(run_id)
        if resumed is not None and active is not None:
            active.control.unpause()
        return resumed

    # ---- live views ----

    def live_context(self, run_id: str) -> dict[str, Any] | None:
        """The engine's current context of an executing run (a copy), else None."""
        active = self._active.get(run_id)
        if active is None or active.engine is None:
            return None
        return dict(active.engine.state.context)

    def held_before(self, run_id: str) -> str | None:
        """The node a paused run holds before, when it is waiting between stages."""
        active = self._active.get(run_id)
        if active is None or active.engine is None or not active.control.held.is_set():
            return None
        engine = active.engine
        start = engine.graph.start_node()
        # Before its first stage a run holds before the start node.
        return engine.state.next_node_id or (start.id if start else None)
