"""The server's runs: FIFO scheduling, engine tasks, recovery, pause/unpause/cancel.

engine.md §2 (scheduler) and §5 (recovery). One Scheduler per server process. It owns every
engine task; on shutdown it cancels them without touching run statuses, so the next start
recovers them.

A run whose engine cannot write for lack of space is *held*, not failed: its engine stops,
its status stays as it is, and once a probe commits again (every PROBE_S at first, then less
often) it is resumed from its checkpoint as after a restart. Nothing is admitted meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabro.clock import SYSTEM_CLOCK, Clock
from fabro.config import DEFAULT_COMMAND_ENV, LlmSettings
from fabro.engine.assembly import assemble_run
from fabro.engine.control import RunControl
from fabro.engine.governor import Governor
from fabro.engine.lifecycle import Lifecycle, NewRun
from fabro.engine.questions import QuestionDesk, StoredAnswers
from fabro.engine.runlog import log_transition
from fabro.engine.runner import Engine
from fabro.engine.stage import EngineDeps
from fabro.errors import InsufficientStorage
from fabro.events.bus import EventBus
from fabro.events.redact import Redactor, secret_values
from fabro.llm.provider import LlmBackend
from fabro.llm.resolve import LevelChoice
from fabro.secrets.source import NoSecrets, SecretSource
from fabro.storage import space
from fabro.storage.records import EventRecord, RunRecord
from fabro.storage.space import log_retried_failure
from fabro.storage.store import ACTIVE, IdempotencyCheck, RunNotActive, Store

log = logging.getLogger(__name__)

SCHEDULER_PERIOD_S = 1.0
# While runs are held for lack of space, the disk is probed after PROBE_S, then at doubling
# intervals up to PROBE_MAX_S. Runs held again soon after they were resumed start there.
PROBE_S = 1.0
PROBE_MAX_S = 8.0
TERMINAL_VARIANTS = frozenset({"WorkflowRunCompleted", "WorkflowRunFailed", "RunCancelled"})
# Every run's changes of state are also published under one reserved key (a run id never
# starts with "*"), so a view of all runs (the web UI's board) follows them with one
# subscription. A run's own changes count at depth 0; a question waits for a person at any.
STATES_KEY = "*states"
# Every event of every run, too: the global stream (api/global_events.py) wakes up on them.
EVENTS_KEY = "*events"
STATE_VARIANTS = frozenset({"RunQueued", "WorkflowRunStarted", "RunPaused", "RunResumed"})
QUESTION_VARIANTS = frozenset({"InterviewStarted", "InterviewCompleted", "InterviewTimeout"})
_RUN_STATE_VARIANTS = STATE_VARIANTS | TERMINAL_VARIANTS


@dataclass
class ActiveRun:
    task: asyncio.Task[None]
    control: RunControl
    engine: Engine | None = None


class Scheduler:
    """Admits queued runs, executes them, and carries out clients' state changes."""

    def __init__(
        self,
        store: Store,
        data_dir: Path,
        max_concurrent_runs: int,
        llm: Callable[[], LlmBackend],
        env: Mapping[str, str],
        llm_settings: Callable[[], LlmSettings],
        dry_run: bool = False,
        *,
        redactor: Redactor | None = None,
        env_allowlist: Sequence[str] = DEFAULT_COMMAND_ENV,
        clock: Clock | None = None,
        governor: Governor | None = None,
        secrets: SecretSource | None = None,
    ) -> None:
        self.store = store
        self.max_concurrent_runs = max_concurrent_runs
        self.bus: EventBus[EventRecord] = EventBus()
        # The server's (every configured secret) when given, else one for ``env``'s secrets.
        self.redactor = redactor or Redactor(secret_values(env))
        self.clock = clock or SYSTEM_CLOCK
        self.lifecycle = Lifecycle(store, self.publish, self.redactor, data_dir, self.clock)
        self.desk = QuestionDesk(store, self.clock)
        self.llm = llm  # the backend for a run starting now (it may change: fabro/llm/live.py)
        self.deps = EngineDeps(  # each run's, but its model backend (taken at its start)
            llm=llm(),
            interviewer=StoredAnswers(),
            desk=self.desk,
            env=env,
            dry_run=dry_run,
            env_allowlist=tuple(env_allowlist),
            clock=self.clock,  # the engines' time: a test can give its own
            governor=governor or Governor(),
            secrets=secrets or NoSecrets(),
        )
        self.llm_settings = llm_settings
        self._active: dict[str, ActiveRun] = {}
        self._held: dict[str, None] = {}  # runs waiting for space, in the order they stopped
        self._prober: asyncio.Task[None] | None = None
        self._probe_first_s = PROBE_S
        self._resumed_at = float("-inf")  # when held runs were last resumed (loop time)
        self._wake = asyncio.Event()
        self._scheduler: asyncio.Task[None] | None = None
        self._closing = False

    # ---- events ----

    def publish(self, record: EventRecord) -> None:
        """Hand a committed event to live subscribers; end the stream after a terminal one."""
        log_transition(record)
        self.bus.publish(record.run_id, record.seq, record)
        self.bus.publish(EVENTS_KEY, record.seq, record)
        if record.variant in QUESTION_VARIANTS or (
            record.child_depth == 0 and record.variant in _RUN_STATE_VARIANTS
        ):
            self.bus.publish(STATES_KEY, record.seq, record)
        if record.child_depth == 0 and record.variant in TERMINAL_VARIANTS:
            self.bus.close(record.run_id)
            self._wake.set()

    # ---- lifecycle of the manager ----

    async def start(self) -> None:
        """Recover interrupted runs (admitted even over the limit), then start scheduling."""
        for run in await self.store.runs_with_status(list(ACTIVE)):
            self._launch(run, recovered=run.status != "starting")
        self._scheduler = asyncio.create_task(self._schedule(), name="scheduler")
        self._wake.set()

    async def close(self) -> None:
        """Cancel every engine task without changing run statuses (they recover next start)."""
        self._closing = True
        tasks = [active.task for active in self._active.values()]
        for background in (self._scheduler, self._prober):
            if background is not None:
                tasks.append(background)
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
                log_retried_failure(log, "scheduler pass failed")

    async def _admit(self) -> None:
        # Every starting, running or paused run of this server has its engine task here, so
        # the count needs no query: loading every active run (graph JSON and all) on each
        # pass blocked the event loop for ~250 ms with 1,000 runs parked at human gates.
        active = len(self._active)
        if active >= self.max_concurrent_runs or self._held:
            return  # no new run while others wait for space
        # Launched runs may still read `queued`, so up to len(self._active) of the oldest are
        # skipped: max_concurrent_runs rows always cover the free slots.
        queued = await self.store.runs_with_status(["queued"], limit=self.max_concurrent_runs)
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
        task.add_done_callback(lambda done: self._finished(run.id, done))

    def _finished(self, run_id: str, task: asyncio.Task[None]) -> None:
        active = self._active.get(run_id)
        if active is not None and active.task is task:  # not a newer launch of the run
            del self._active[run_id]
        self._wake.set()

    async def _execute(self, run: RunRecord, control: RunControl, recovered: bool) -> None:
        try:
            server = self.llm_settings()
            assembled = await assemble_run(
                self.lifecycle,
                run,
                # The model backend current now, kept to the run's end (fabro/llm/live.py).
                dataclasses.replace(self.deps, llm=self.llm()),
                resume=recovered,
                server_default=LevelChoice(server.model, server.provider),
                control=control,
            )
            if assembled is None:
                return
            self._active[run.id].engine = assembled.engine
            await assembled.run()
        except RunNotActive:
            pass  # cancelled by a client while the engine was writing
        except Exception as exc:
            await self._stopped(run.id, exc)

    async def _stopped(self, run_id: str, exc: Exception) -> None:
        """An engine ended by an error: hold the run when the disk is full, else fail it."""
        if space.is_disk_full(exc):
            self._hold(run_id)
            return
        if isinstance(exc, OSError | ValueError):
            message = f"cannot set up the run: {exc}"
        else:
            log.exception("run %s failed with an unexpected error", run_id, exc_info=exc)
            message = f"internal error: {type(exc).__name__}"
        try:
            await self.lifecycle.fail(run_id, message)
        except InsufficientStorage:
            self._hold(run_id)  # not even its failure can be stored: it runs again later

    # ---- runs held for lack of space ----

    @property
    def held(self) -> set[str]:
        """The runs waiting for the disk to have room again."""
        return set(self._held)

    def _hold(self, run_id: str) -> None:
        if run_id not in self._held:
            log.warning(
                "run %s held: disk full; it resumes from its checkpoint once writes succeed",
                run_id,
            )
        self._held[run_id] = None
        if self._prober is None or self._prober.done():
            recently = asyncio.get_running_loop().time() - self._resumed_at < PROBE_MAX_S
            # Held again right after being resumed: the room did not last; wait longer.
            self._probe_first_s = min(self._probe_first_s * 2, PROBE_MAX_S) if recently else PROBE_S
            self._prober = asyncio.create_task(self._probe(), name="disk-probe")

    async def _probe(self) -> None:
        """Until no run is held: wait until the database takes a write, resume the held runs."""
        delay = self._probe_first_s
        while self._held:
            await asyncio.sleep(delay)
            if not await self._writable():
                delay = min(delay * 2, PROBE_MAX_S)
                continue
            log.info("the disk takes writes again: resuming %d held run(s)", len(self._held))
            self._resumed_at = asyncio.get_running_loop().time()
            try:
                await self._resume_held()
            except Exception:  # those not resumed stay held: the next pass tries them again
                log.exception("cannot resume the held runs")
            delay = min(self._probe_first_s * 2, PROBE_MAX_S)  # for runs held meanwhile

    async def _writable(self) -> bool:
        try:
            return await self.store.writable()
        except Exception:  # the probe must outlive a bad moment: it tries again later
            log.exception("disk probe failed")
            return False

    async def _resume_held(self) -> None:
        for run_id in list(self._held):
            if self._closing:
                return
            run = await self.store.get_run(run_id)
            self._held.pop(run_id, None)  # (a cancel may have taken it meanwhile)
            # Cancelled meanwhile: nothing to resume; still queued: the scheduler starts it.
            if run is not None and run.status in ACTIVE and run_id not in self._active:
                self._launch(run, recovered=run.status != "starting")
        self._wake.set()

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
            self._held.pop(run_id, None)
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
