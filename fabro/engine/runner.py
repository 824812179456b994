"""The async engine loop (engine.md §6): await handlers, persist, publish; decide nothing.

Routing, retry and goal-gate decisions are the pure functions of ``routing``, ``retry`` and
``failure``; this module only sequences them, runs handlers and commits what happened.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from fabro.clock import now_ts
from fabro.engine import preamble
from fabro.engine.artifacts import count_files
from fabro.engine.control import RunControl
from fabro.engine.failure import BREAKER_CLASSES, signature
from fabro.engine.handlers import HANDLERS
from fabro.engine.offload import select_edge
from fabro.engine.orphans import kill_orphans
from fabro.engine.outcome import SUCCESSFUL, Outcome, StageError
from fabro.engine.recorder import Recorder, RunNotActive
from fabro.engine.retry import RetryPolicy, policy_for
from fabro.engine.routing import (
    fails_closed,
    retry_target,
    stage_id,
    stranded_failure,
    unsatisfied_goal_gate,
    visit_limit_error,
)
from fabro.engine.stage import EngineDeps, Handler, RunSpec, StageRun, Watchdog
from fabro.engine.state import EngineState
from fabro.events.types import (
    CheckpointSaved,
    EdgeSelected,
    FabroErrorPayload,
    FailureDetail,
    LoopRestart,
    RunEvent,
    StageCompleted,
    StageFailed,
    StageRetrying,
    StageStarted,
    StallWatchdogTimeout,
    WorkflowRunCompleted,
    WorkflowRunFailed,
    WorkflowRunStarted,
)
from fabro.storage.space import classified, is_disk_full
from fabro.storage.stages import StageFinish, StageRecord, usage_by_model
from fabro.storage.tracked import TrackedDict, TrackedList
from fabro.workflow import kinds
from fabro.workflow.model import Edge, Graph, Node

log = logging.getLogger(__name__)

OFFLOAD_BYTES = 100_000
# A character takes at most 6 bytes in JSON text (`\u001f`; 4 in UTF-8 when not escaped).
_MAX_JSON_BYTES_PER_CHAR = 6
# Kinds whose handlers apply `timeout` themselves (engine.md §6 step 6).
SELF_TIMED = frozenset({kinds.COMMAND, kinds.HUMAN})
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
    status: str  # completed | failed
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
        handlers: Mapping[str, Handler] | None = None,
    ) -> None:
        self.spec = spec
        self.graph: Graph = spec.graph
        self.deps = deps
        self.recorder = recorder
        self.control = control or RunControl()
        self.handlers = handlers or HANDLERS
        self.watchdog = Watchdog(recorder, deps.clock)
        self.state = EngineState()
        self.started = time.monotonic()
        self._yielded = self.started  # when the run last let the event loop turn
        self.spent = 0.0  # cost of the stages (and branches) this engine recorded
        self._degrade_fidelity = False
        # The task running the current stage's attempts: the stall watchdog cancels it.
        self._stage_task: asyncio.Task[Any] | None = None
        self._stalled: float | None = None  # idle seconds when the watchdog fired

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
            visits = self.state.node_visits.get(node.id, 0) + 1
            self.state.node_visits[node.id] = visits
            limit = visit_limit_error(self.graph, node, visits, self.simulated)
            if limit:
                raise EngineFailure(limit)
            if node.is_terminal:
                jump = self._goal_gate_jump()
                if jump is None:
                    return await self._complete(node, visits)
                current = jump
                continue
            next_node = await self._stage(node, visits)
            if next_node is None:
                return await self._complete(None, visits)
            current = next_node

    def _goal_gate_jump(self) -> str | None:
        gate = unsatisfied_goal_gate(
            self.graph, self.state.completed_nodes, self.state.node_outcomes
        )
        if gate is None:
            return None
        target = retry_target(self.graph, gate)
        if target is None:
            raise EngineFailure(f"goal gate unsatisfied for node {gate.id} and no retry target")
        return target

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
        preamble.prepare_context(self.graph, node, self.state, self._degrade_fidelity)
        self._degrade_fidelity = False
        policy = policy_for(self.graph, node)
        handler_type = node.kind
        index = self.state.stage_index
        started = now_ts()
        await self.recorder.stage_started(
            StageRecord(
                run_id=self.spec.run_id,
                stage_id=sid,
                node_id=node.id,
                name=node.label,
                visit=visits,
                stage_index=index,
                status="running",
                started_at=started,
                handler_type=handler_type,
            ),
            StageStarted(
                node_id=node.id,
                name=node.label,
                index=index,
                handler_type=handler_type,
                script=node.script if handler_type == kinds.COMMAND else None,
                attempt=1,
                max_attempts=policy.attempts,
            ),
        )
        clock_start = time.monotonic()
        outcome, attempts = await self._watched(node, sid, policy, index)
        duration_ms = int((time.monotonic() - clock_start) * 1000)
        outcome = outcome.with_(duration_ms=duration_ms)
        self.state.context[f"internal.retry_count.{node.id}"] = attempts
        if node.auto_status and outcome.status != "success" and not fails_closed(node, outcome):
            outcome = Outcome.success(
                "auto-status: handler completed without writing status",
                context_updates=outcome.context_updates,
                usage=outcome.usage,
                files_touched=outcome.files_touched,
            ).with_(duration_ms=duration_ms)
        failure_class, failure_signature = self._classify(node, outcome)
        outcome = self._offload(outcome, sid)
        closing: list[RunEvent] = [
            self._closing_event(node, index, outcome, attempts, policy, failure_signature)
        ]

        # Record the outcome (step 11).
        self.state.completed_nodes.append(node.id)
        self.state.node_outcomes[node.id] = outcome.to_json()
        self.state.node_retries[node.id] = attempts
        self.state.context.update(outcome.context_updates)
        self.state.context["outcome"] = outcome.status
        self.state.context["failure_class"] = failure_class
        self.state.context["failure_signature"] = failure_signature
        if outcome.preferred_label:
            self.state.context["preferred_label"] = outcome.preferred_label
        self.state.current_node = node.id

        # Choose the next node (step 12).
        edge: Edge | None = None
        target: str | None
        if outcome.jump_to_node:
            target = outcome.jump_to_node
            closing.append(
                EdgeSelected(from_node=node.id, to_node=target, label=None, condition=None)
            )
        else:
            edge = await select_edge(self.graph, node.id, outcome, self.state.context)
            if edge is not None:
                target = edge.target
                closing.append(
                    EdgeSelected(
                        from_node=node.id,
                        to_node=target,
                        label=edge.label,
                        condition=edge.condition or None,
                    )
                )
            elif outcome.status == "fail":
                target = retry_target(self.graph, node)
                if target is None:
                    await self._commit_stage(node, sid, outcome, attempts, closing, None)
                    raise EngineFailure(stranded_failure(node, outcome), failure_class)
                closing.append(
                    EdgeSelected(from_node=node.id, to_node=target, label=None, condition=None)
                )
            else:
                target = None  # a dead end: the run completes (§12.4)
        await self._commit_stage(node, sid, outcome, attempts, closing, target)
        if edge is not None and edge.loop_restart:
            await self._loop_restart(node, edge, outcome, failure_class, failure_signature)
        return target

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
            return await self._attempts(node, sid, policy, index)
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
        self.state.next_node_id = target
        checkpoint = self.state.checkpoint(now_ts())
        closing.append(CheckpointSaved(node_id=node.id))
        usage = outcome.usage
        self.spent += (usage.cost or 0.0) if usage else 0.0
        await self.recorder.stage_finished(
            sid,
            StageFinish(
                status="failed" if outcome.status == "fail" else "completed",
                finished_at=now_ts(),
                duration_ms=outcome.duration_ms or 0,
                attempts=attempts,
                outcome=self.state.node_outcomes[node.id],  # outcome.to_json(), made once
                model=usage.model if usage else None,
                usage=_usage_counts(usage),
                cost=usage.cost if usage else None,
            ),
            closing,
            checkpoint,
            target,
        )

    async def _attempts(
        self, node: Node, sid: str, policy: RetryPolicy, index: int
    ) -> tuple[Outcome, int]:
        """Execute with the retry policy (§12.2); returns the final outcome and attempts used."""
        attempt = 1
        while True:
            try:
                outcome = await self.execute(node, sid, attempt, self.state.context)
            except StageError as error:
                if error.retryable and attempt < policy.attempts:
                    delay = policy.delay_ms(attempt, self.deps.rng)
                    failure = FailureDetail(
                        message=error.message,
                        failure_class=_class_of(error.failure_class, error.message),
                    )
                    await self.recorder.emit(
                        StageFailed(
                            node_id=node.id,
                            name=node.label,
                            index=index,
                            failure=failure,
                            will_retry=True,
                        ),
                        StageRetrying(
                            node_id=node.id,
                            name=node.label,
                            index=index,
                            attempt=attempt + 1,
                            max_attempts=policy.attempts,
                            delay_ms=delay,
                        ),
                    )
                    await self.deps.sleep(delay / 1000)
                    attempt += 1
                    await self.recorder.set_attempts(sid, attempt)
                    continue
                return error.outcome(), attempt
            if outcome.status != "retry":
                return outcome, attempt
            if attempt < policy.attempts:
                delay = policy.delay_ms(attempt, self.deps.rng)
                await self.recorder.emit(
                    StageRetrying(
                        node_id=node.id,
                        name=node.label,
                        index=index,
                        attempt=attempt + 1,
                        max_attempts=policy.attempts,
                        delay_ms=delay,
                    )
                )
                await self.deps.sleep(delay / 1000)
                attempt += 1
                await self.recorder.set_attempts(sid, attempt)
                continue
            if node.allow_partial:
                return outcome.with_(
                    status="partial_success",
                    failure=None,
                    notes="retries exhausted, partial accepted",
                ), attempt
            return Outcome.fail("max retries exceeded"), attempt

    async def execute(
        self, node: Node, sid: str, attempt: int, context: Mapping[str, Any]
    ) -> Outcome:
        """One attempt: the handler under the node timeout; unexpected errors are retryable."""
        handler = self.handlers.get(node.kind) or self.handlers[kinds.AGENT]
        stage = StageRun(
            spec=self.spec,
            node=node,
            stage_id=sid,
            attempt=attempt,
            # A read-only view, not a copy (O(context) per stage): the state does not change
            # while its stage runs, and handlers return context_updates instead.
            context=MappingProxyType(context),
            deps=self.deps,
            recorder=self.recorder,
            watchdog=self.watchdog,
            engine=self,
            logs=self.state.logs,
        )
        timeout_ms = node.timeout_ms if node.kind not in SELF_TIMED else None
        scope: asyncio.Timeout | None = None
        try:
            if timeout_ms:
                async with asyncio.timeout(timeout_ms / 1000) as scope:
                    return await handler(node, stage)
            return await handler(node, stage)
        except TimeoutError as exc:
            if scope is not None and scope.expired():  # the node timeout, not the handler's own
                return Outcome.fail(f"handler timed out after {timeout_ms}ms")
            raise _panic(stage, exc) from None
        except (StageError, RunNotActive, asyncio.CancelledError):
            raise
        except Exception as exc:
            if is_disk_full(exc):  # not the stage's fault: the run is held (manager)
                raise classified(exc) from exc
            raise _panic(stage, exc) from None

    # ---- classification and events --------------------------------------------------------

    def _classify(self, node: Node, outcome: Outcome) -> tuple[str, str]:
        """Failure class and signature (§12.7); the circuit breaker fires here."""
        if outcome.status not in ("fail", "retry") or outcome.failure is None:
            return "", ""
        failure_class = outcome.failure.failure_class
        reason = outcome.failure.failure_signature or outcome.failure.message
        sig = signature(node.id, failure_class, reason)
        if failure_class in BREAKER_CLASSES:
            count = self.state.loop_failure_signatures.get(sig, 0) + 1
            self.state.loop_failure_signatures[sig] = count
            limit = self.graph.loop_restart_signature_limit
            if count >= limit:
                raise EngineFailure(
                    f"deterministic failure cycle detected: signature {sig} repeated {count} "
                    f"times (limit {limit})",
                    failure_class,
                )
        return failure_class, sig

    def _closing_event(
        self,
        node: Node,
        index: int,
        outcome: Outcome,
        attempts: int,
        policy: RetryPolicy,
        failure_signature: str,
    ) -> RunEvent:
        failure = outcome.failure
        if failure is not None and failure_signature:
            failure = FailureDetail(
                message=failure.message,
                failure_class=failure.failure_class,
                failure_signature=failure_signature,
            )
        if outcome.status == "fail":
            failure = failure or FailureDetail(
                message="stage failed", failure_class="deterministic"
            )
            return StageFailed(
                node_id=node.id, name=node.label, index=index, failure=failure, will_retry=False
            )
        return StageCompleted(
            node_id=node.id,
            name=node.label,
            index=index,
            duration_ms=outcome.duration_ms or 0,
            status=outcome.status,
            preferred_label=outcome.preferred_label,
            suggested_next_ids=tuple(outcome.suggested_next_ids),
            usage=outcome.usage,
            failure=failure,
            notes=outcome.notes,
            files_touched=tuple(outcome.files_touched),
            attempt=attempts,
            max_attempts=policy.attempts,
        )

    def _offload(self, outcome: Outcome, sid: str) -> Outcome:
        """Context values over 100 KB go to a file; the context keeps `file://<path>` (step 10)."""
        updates = dict(outcome.context_updates)
        changed = False
        for key, value in outcome.context_updates.items():
            if type(value) is str and len(value) * _MAX_JSON_BYTES_PER_CHAR + 2 <= OFFLOAD_BYTES:
                continue  # too short to be over the limit, whatever its characters
            encoded = json.dumps(value, ensure_ascii=False)
            if len(encoded.encode("utf-8")) <= OFFLOAD_BYTES:
                continue
            path = self.spec.run_dir / "nodes" / sid / "values" / f"{_safe(key)}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(encoded, encoding="utf-8")
            updates[key] = f"file://{path.resolve()}"
            changed = True
        return outcome.with_(context_updates=updates) if changed else outcome

    # ---- endings ---------------------------------------------------------------------------

    async def _complete(self, terminal: Node | None, visits: int) -> EngineResult:
        events: list[RunEvent] = []
        terminal_stage: StageRecord | None = None
        if terminal is not None:
            index = self.state.stage_index
            terminal_stage = StageRecord(
                run_id=self.spec.run_id,
                stage_id=stage_id(terminal.id, visits),
                node_id=terminal.id,
                name=terminal.label,
                visit=visits,
                stage_index=index,
                status="running",
                started_at=now_ts(),
                handler_type=terminal.kind,
            )
            events += [
                StageStarted(
                    node_id=terminal.id,
                    name=terminal.label,
                    index=index,
                    handler_type=terminal.kind,
                    attempt=1,
                    max_attempts=1,
                ),
                StageCompleted(
                    node_id=terminal.id,
                    name=terminal.label,
                    index=index,
                    duration_ms=0,
                    status="success",
                    preferred_label=None,
                    suggested_next_ids=(),
                    usage=None,
                    notes=None,
                    files_touched=(),
                    attempt=1,
                    max_attempts=1,
                ),
            ]
        total_cost = await self._total_cost()
        await self.deps.artifacts.flush()
        events.append(
            WorkflowRunCompleted(
                duration_ms=self._duration_ms(),
                artifact_count=count_files(self.spec.run_dir / "nodes"),
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

    async def _loop_restart(
        self, node: Node, edge: Edge, outcome: Outcome, failure_class: str, sig: str
    ) -> None:
        """Follow a `loop_restart` edge (§12.6): checks, then a fresh context and stage index."""
        if failure_class and failure_class != "transient_infra":
            raise EngineFailure(
                f"loop_restart blocked: failure_class={failure_class} (requires transient_infra), "
                f"node={node.id}, failure_reason={outcome.failure_message}",
                failure_class,
            )
        if sig:
            count = self.state.restart_failure_signatures.get(sig, 0) + 1
            self.state.restart_failure_signatures[sig] = count
            limit = self.graph.loop_restart_signature_limit
            if count >= limit:
                raise EngineFailure(
                    f"loop_restart circuit breaker: signature {sig} repeated {count} times "
                    f"(limit {limit})",
                    failure_class,
                )
        await self.recorder.emit(
            LoopRestart(from_node=node.id, to_node=edge.target),
            WorkflowRunStarted(name=self.graph.name, run_id=self.spec.run_id),
        )
        self.state.reset_context(self.graph, self.spec.run_id, str(self.spec.work_dir))
        self.state.completed_nodes = TrackedList()
        self.state.node_outcomes = TrackedDict()

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
        return int((time.monotonic() - self.started) * 1000)

    async def _total_cost(self) -> float:
        """The cost of every stage of the run: all visits, branches, before loop restarts and
        before a recovery (the stored stage rows); a manager child counts what it ran."""
        if self.recorder.run_id != self.spec.run_id:
            return self.spent
        await self.recorder.settle()  # the last stage rows are queued
        totals = await usage_by_model(self.recorder.db, [self.spec.run_id])
        return sum(total.cost for total in totals)

    def _last_outcome(self) -> Outcome | None:
        if not self.state.completed_nodes:
            return None
        last = self.state.node_outcomes.get(self.state.completed_nodes[-1])
        return Outcome.from_json(last) if last else None


def _panic(stage: StageRun, exc: BaseException) -> StageError:
    """An unexpected handler exception: a retryable error; the traceback goes to panic.txt."""
    trace = "".join(traceback.format_exception(exc))
    try:
        (stage.stage_dir / "panic.txt").write_text(trace, encoding="utf-8")
    except OSError as error:  # an artifact for people: the stage's error is what counts
        log.warning("cannot write %s/panic.txt: %s", stage.stage_dir, error.strerror or error)
    log.warning("handler of stage %s raised %s", stage.stage_id, type(exc).__name__)
    return StageError(f"handler panicked: {exc}")


def _class_of(explicit: str | None, message: str) -> str:
    from fabro.engine.failure import effective_class

    return effective_class(explicit, message)


def _usage_counts(usage: Any) -> dict[str, int]:
    if usage is None:
        return {}
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens or 0,
        "cache_write_tokens": usage.cache_write_tokens or 0,
        "reasoning_tokens": usage.reasoning_tokens or 0,
    }


def _safe(key: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in key)


__all__ = ["SUCCESSFUL", "Engine", "EngineFailure", "EngineResult", "Stalled"]
