"""The async engine loop (engine.md §6): await handlers, persist, publish; decide nothing.

What happens after each node is decided by the pure functions of ``step`` (routing, retry
targets, goal gates, visit limits, circuit breakers, loop restarts) and returned as values:
the state delta to apply and record, the next node, or the failure that ends the run. This
module sequences them, runs handlers (``attempts``), and commits what happened: every change
to the state is a ``StateDelta`` applied by ``apply`` and written with the next stage's
checkpoint.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from fabro.clock import now_ts
from fabro.engine import large_values, preamble, stage_events, step
from fabro.engine.artifacts import count_files
from fabro.engine.attempts import execute_once, with_retries
from fabro.engine.control import RunControl
from fabro.engine.delta import StateDelta
from fabro.engine.handlers import HANDLERS
from fabro.engine.offload import off_loop
from fabro.engine.orphans import kill_orphans
from fabro.engine.outcome import Outcome
from fabro.engine.recorder import CheckpointUpdate, Recorder
from fabro.engine.retry import RetryPolicy, policy_for
from fabro.engine.routing import (
    fails_closed,
    stage_id,
)
from fabro.engine.stage import EngineDeps, RunSpec, StageHandler, StageRun, Watchdog
from fabro.engine.state import EngineState
from fabro.events.types import (
    CheckpointSaved,
    FabroErrorPayload,
    LoopRestart,
    RunEvent,
    StageStarted,
    StallWatchdogTimeout,
    WorkflowRunCompleted,
    WorkflowRunFailed,
    WorkflowRunStarted,
)
from fabro.storage.stages import StageRecord
from fabro.workflow import kinds
from fabro.workflow.model import Graph, Node

log = logging.getLogger(__name__)

# Longest stretch of stages run without letting the event loop serve anything else
# (Engine._catch_up). Only stages that never wait (simulated LLM calls, conditionals) run that
# long; each stretch ends in one commit, whose pages the file system writes once, so a longer
# one costs less per stage (10 ms: ~7% less than 5 ms with the database on ext4).
YIELD_S = 0.01


class EngineFailure(Exception):
    """An error that ends the run (visit limits, breakers, missing node, ...)."""

    def __init__(self, message: str, failure_class: str = "deterministic") -> None:
        super().__init__(message)
        self.message = message
        self.failure_class = failure_class


class Stalled(EngineFailure):
    """The stall watchdog aborted the current stage; the run fails (engine.md §8)."""


@dataclass(frozen=True)
class EngineResult:
    status: Literal["completed", "failed"]
    error: str | None = None
    outcome: Outcome | None = None  # a child's last outcome (manager loop)
    context: dict[str, Any] | None = None


class Engine:
    """Executes one run (or one child workflow) from a state until it ends."""

    def __init__(
        self,
        spec: RunSpec,
        deps: EngineDeps,
        recorder: Recorder,
        control: RunControl | None = None,
        handlers: Mapping[str, StageHandler] | None = None,
    ) -> None:
        self.spec = spec
        self.graph: Graph = spec.graph
        self.deps = deps
        self.recorder = recorder
        self.control = control or RunControl()
        self.handlers = handlers or HANDLERS
        self.watchdog = Watchdog(recorder, deps.clock)
        self.state = EngineState()
        self.started = deps.clock.monotonic()  # durations come from the injected clock
        self._yielded = time.monotonic()  # when the run last let the event loop turn (real time)
        self.spent = 0.0  # cost of the stages (and branches) this engine recorded
        self._degrade_fidelity = False
        # The task running the current stage's attempts: the stall watchdog cancels it.
        self._stage_task: asyncio.Task[Any] | None = None
        self._stalled: float | None = None  # idle seconds when the watchdog fired
        self._unwritten = StateDelta()  # applied to the state since the last checkpoint write
        # Log lines handlers added (StageRun.logs; an artifact write may fail after its stage
        # ended), for the next stage's delta.
        self.pending_logs: list[str] = []

    @property
    def simulated(self) -> bool:
        return self.deps.llm.simulated

    # ---- the run ------------------------------------------------------------------------------

    async def run(
        self, state: EngineState | None = None, *, recovered: bool = False
    ) -> EngineResult:
        """Run to the end. ``state`` comes from the last checkpoint when resuming."""
        if state is None:
            state = EngineState.fresh(self.graph, self.spec.run_id, str(self.spec.work_dir))
        self.state = state
        self._degrade_fidelity = recovered
        if recovered:  # the stage about to run again must not race its earlier self
            kill_orphans(self.spec.run_dir, self.spec.run_id)
        start = self.graph.start_node()
        current = state.next_node_id or (start.id if start else None)
        watchdog = asyncio.create_task(self._watch(), name=f"watchdog-{self.spec.run_id}")
        try:
            if current is None:
                raise EngineFailure("no start node")
            return await self._loop(current)
        except EngineFailure as failure:
            return await self._fail(failure.message, failure.failure_class)
        finally:
            watchdog.cancel()
            try:
                await watchdog
            except asyncio.CancelledError:
                pass

    async def _loop(self, current: str) -> EngineResult:
        while True:
            if time.monotonic() - self._yielded > YIELD_S:
                await self._catch_up()
            if self.control.paused:
                await self.recorder.settle()  # a paused run has its last stage committed
            await self.control.hold(self.watchdog)
            node = self.graph.nodes.get(current)
            if node is None:
                raise EngineFailure(f"node not found: {current}")
            entry = step.enter(self.graph, self.state, node, self.simulated)
            self.apply(entry.delta)
            _raise(entry.failure)
            visits = entry.visits
            if node.is_terminal:
                jump = step.goal_gate_jump(self.graph, self.state)
                if jump is None:
                    return await self._complete(node, visits)
                _raise(jump)
                assert isinstance(jump, str)
                current = jump
                continue
            next_node = await self._stage(node, visits)
            if next_node is None:
                return await self._complete(None, visits)
            current = next_node

    def apply(self, delta: StateDelta) -> None:
        """Change the state by ``delta``; it is written with the next stage's checkpoint."""
        self.state.apply(delta)
        self._unwritten.then(delta)

    def _checkpoint_delta(self) -> StateDelta:
        """What the next checkpoint write stores: the deltas applied since the last one, or
        the whole state when the recorder does not know what is stored."""
        delta, self._unwritten = self._unwritten, StateDelta()
        if self.recorder.wants_whole_checkpoint():
            return StateDelta.whole(self.state.sections())
        return delta

    # ---- one stage ----------------------------------------------------------------------------

    async def _catch_up(self) -> None:
        """Let the event loop turn, and the writer store what the engine has done so far.

        Stages whose handlers never wait (the simulated LLM, a conditional) would otherwise
        keep the server's loop from everything else for a whole run. Waiting for the writes
        rather than only yielding lets the writer thread commit them while the loop thread is
        idle, instead of taking the GIL from the engine statement by statement (which costs
        both far more), and keeps the engine at most YIELD_S of work ahead of the database.
        """
        await self.recorder.settle()
        await asyncio.sleep(0)  # settle does not wait when everything was already stored
        self._yielded = time.monotonic()

    async def _stage(self, node: Node, visits: int) -> str | None:
        """Run one stage with retries, commit it, and return the next node (None: completed)."""
        sid = stage_id(node.id, visits)
        self._prepare(node)
        policy = policy_for(self.graph, node)
        handler_type = node.kind
        name = node.label
        index = self.state.stage_index
        await self.recorder.stage_started(
            StageRecord(
                run_id=self.spec.run_id,
                stage_id=sid,
                node_id=node.id,
                name=name,
                visit=visits,
                stage_index=index,
                status="running",
                started_at=now_ts(self.deps.clock),
                handler_type=handler_type,
            ),
            StageStarted(
                node_id=node.id,
                name=name,
                index=index,
                handler_type=handler_type,
                script=node.script if handler_type == kinds.COMMAND else None,
                attempt=1,
                max_attempts=policy.attempts,
            ),
        )
        clock_start = self.deps.clock.monotonic()
        outcome, attempts = await self._watched(node, sid, policy, index)
        duration_ms = int((self.deps.clock.monotonic() - clock_start) * 1000)
        outcome = outcome.with_(duration_ms=duration_ms)
        if node.auto_status and outcome.status != "success" and not fails_closed(node, outcome):
            outcome = Outcome.success(
                "auto-status: handler completed without writing status",
                context_updates=outcome.context_updates,
                usage=outcome.usage,
                files_touched=outcome.files_touched,
            ).with_(duration_ms=duration_ms)
        outcome = large_values.offload(outcome, self.spec.run_dir, sid)

        # Record the outcome and choose the next node (steps 11-12): decided by step.py.
        end = await self._decide(node, outcome, attempts)
        if not end.recorded:
            _raise(end.failure)
        if self.pending_logs:
            self.apply(StateDelta.of(logs=self.pending_logs))  # a copy of them
            self.pending_logs.clear()  # in place: a stage's StageRun appends to this very list
        self.apply(end.delta)
        closing = [
            stage_events.closing(node, index, outcome, attempts, policy, end.failure_signature),
            *end.events,
        ]
        await self._commit_stage(node, sid, outcome, attempts, closing, end.target)
        _raise(end.failure)
        if end.restart is not None:
            _raise(end.restart)
            assert isinstance(end.restart, StateDelta) and end.target is not None
            await self.recorder.emit(
                LoopRestart(from_node=node.id, to_node=end.target),
                WorkflowRunStarted(name=self.graph.name, run_id=self.spec.run_id),
            )
            restart = EngineState.restart(self.graph, self.spec.run_id, str(self.spec.work_dir))
            self.apply(restart.then(end.restart))
        return end.target

    def _prepare(self, node: Node) -> None:
        """Step 4: the stage's engine keys and its preamble, as one delta. The preamble needs
        only the keys' fidelity: it shows no internal key, and they all are."""
        keys = preamble.stage_keys(self.graph, node, self.state, self._degrade_fidelity)
        self._degrade_fidelity = False
        fidelity = keys["internal.fidelity"]
        keys["current.preamble"] = preamble.build_preamble(self.graph, self.state, fidelity)
        self.apply(StateDelta.of(context=keys))

    async def _decide(self, node: Node, outcome: Outcome, attempts: int) -> step.StageEnd:
        """step.after_stage; off the event loop when an edge condition may search a pattern
        (on a copy of the context: the loop may read the state meanwhile, never change it)."""
        if not step.conditions_may_take_time(self.graph, node):
            return step.after_stage(self.graph, self.state, node, outcome, attempts)
        state = dataclasses.replace(self.state, context=dict(self.state.context))
        return await off_loop(lambda: step.after_stage(self.graph, state, node, outcome, attempts))

    async def _watched(
        self, node: Node, sid: str, policy: RetryPolicy, index: int
    ) -> tuple[Outcome, int]:
        """The attempts of one stage, which the stall watchdog can abort (§8).

        Aborting all attempts (not just the handler) also covers retry backoff and stops a
        stalled stage from being retried. The watchdog cancels the task running them (no task
        of their own: that would cost two event loop turns per stage) only while they run;
        its cancellation is told from any other one as asyncio.timeout does, by a flag and the
        task's cancel count, and then undone.
        """
        task = asyncio.current_task()
        self._stage_task = task
        try:
            return await with_retries(self, node, sid, policy, index)
        except asyncio.CancelledError:
            if self._stalled is not None and task is not None and task.uncancel() == 0:
                timeout_s = self.graph.stall_timeout_ms / 1000
                await self.recorder.emit(
                    StallWatchdogTimeout(node=node.id, idle_seconds=self._stalled)
                )
                raise Stalled(
                    f'stall watchdog: node "{node.id}" had no activity for {timeout_s:g}s'
                ) from None
            raise
        finally:
            self._stage_task = None

    async def _commit_stage(
        self,
        node: Node,
        sid: str,
        outcome: Outcome,
        attempts: int,
        closing: list[RunEvent],
        target: str | None,
    ) -> None:
        self.state.current_node = node.id
        self.state.next_node_id = target
        checkpoint = CheckpointUpdate(self._checkpoint_delta(), node.id, target)
        closing.append(CheckpointSaved(node_id=node.id))
        usage = outcome.usage
        self.spent += (usage.cost or 0.0) if usage else 0.0
        # The outcome's JSON as the stage's delta recorded it (made once).
        recorded = self.state.node_outcomes[node.id]
        finish = stage_events.finish(outcome, attempts, recorded, now_ts(self.deps.clock))
        await self.recorder.stage_finished(sid, finish, closing, checkpoint, target)

    async def execute(
        self, node: Node, sid: str, attempt: int, context: Mapping[str, Any]
    ) -> Outcome:
        """One attempt of a stage (attempts.py); parallel branches call it too."""
        return await execute_once(self, node, sid, attempt, context)

    # ---- endings ---------------------------------------------------------------------------

    async def _complete(self, terminal: Node | None, visits: int) -> EngineResult:
        events: list[RunEvent] = []
        terminal_stage: StageRecord | None = None
        if terminal is not None:
            terminal_stage, events = stage_events.exit_stage(
                self.spec.run_id,
                terminal,
                visits,
                self.state.stage_index,
                now_ts(self.deps.clock),
            )
        total_cost = await self._total_cost()
        await self.deps.artifacts.flush()
        # A folder per stage: thousands to list in a long run, so not on the event loop.
        artifact_count = await asyncio.to_thread(count_files, self.spec.run_dir / "nodes")
        events.append(
            WorkflowRunCompleted(
                duration_ms=self._duration_ms(),
                artifact_count=artifact_count,
                total_cost=total_cost if total_cost > 0 else None,
            )
        )
        await self.recorder.finish_run("completed", events, terminal_stage=terminal_stage)
        last = self._last_outcome()
        return EngineResult("completed", outcome=last, context=dict(self.state.context))

    async def _fail(self, message: str, failure_class: str) -> EngineResult:
        await self.deps.artifacts.flush()
        error = FabroErrorPayload(kind="engine", message=message, failure_class=failure_class)
        await self.recorder.finish_run(
            "failed",
            [WorkflowRunFailed(error=error, duration_ms=self._duration_ms())],
            error_message=f"Engine error: {message}",
            stage_status="failed",
        )
        return EngineResult("failed", error=message, context=dict(self.state.context))

    # ---- helpers for handlers (parallel, manager) -------------------------------------------

    async def run_branch(
        self, parent: StageRun, node_id: str, context: dict[str, Any], index: int
    ) -> Outcome:
        """Execute one parallel branch: only its target node, once, on a context copy."""
        from fabro.engine.branches import run_branch

        return await run_branch(self, parent, node_id, context, index)

    async def run_child(
        self, parent: StageRun, graph: Graph, context: dict[str, Any]
    ) -> EngineResult:
        """Run a child workflow in-process; its events go to this run's stream."""
        from fabro.engine.branches import run_child

        return await run_child(self, parent, graph, context)

    # ---- small pieces ----------------------------------------------------------------------

    async def _watch(self) -> None:
        """The stall watchdog (§8): abort the current stage after `stall_timeout` of silence."""
        timeout_s = self.graph.stall_timeout_ms / 1000
        if timeout_s <= 0:
            return
        period = min(max(timeout_s / 10, 0.05), 5.0)
        while True:
            await asyncio.sleep(period)
            idle = self.watchdog.idle_s()
            task = self._stage_task
            if task is None or task.done() or idle < timeout_s:
                continue
            # The engine task emits StallWatchdogTimeout once the stage is aborted, so the
            # event always precedes WorkflowRunFailed.
            self._stalled = round(idle, 3)
            task.cancel()
            return

    def _duration_ms(self) -> int:
        return int((self.deps.clock.monotonic() - self.started) * 1000)

    async def _total_cost(self) -> float:
        """The cost of every stage of the run: all visits, branches, before loop restarts and
        before a recovery (the stored stage rows); a manager child counts what it ran."""
        if self.recorder.run_id != self.spec.run_id:
            return self.spent
        await self.recorder.settle()  # the last stage rows are queued
        totals = await self.recorder.store.usage_by_model([self.spec.run_id])
        return sum(total.cost for total in totals)

    def _last_outcome(self) -> Outcome | None:
        if not self.state.completed_nodes:
            return None
        last = self.state.node_outcomes.get(self.state.completed_nodes[-1])
        return Outcome.from_json(last) if last else None


def _raise(failure: object) -> None:
    """End the run if ``failure`` is a step.RunFailure."""
    if isinstance(failure, step.RunFailure):
        raise EngineFailure(failure.message, failure.failure_class)


__all__ = ["Engine", "EngineFailure", "EngineResult", "Stalled"]
