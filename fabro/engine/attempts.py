"""A stage's attempts: the handler under the node timeout, retried by the retry policy
(engine.md §6 steps 5-9, §12.2)."""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from fabro.engine.failure import effective_class
from fabro.engine.outcome import Outcome, StageError
from fabro.engine.retry import RetryPolicy
from fabro.engine.stage import StageRun
from fabro.events.types import FailureDetail, RunEvent, StageFailed, StageRetrying
from fabro.storage.space import classified, is_disk_full
from fabro.storage.store import RunNotActive
from fabro.workflow import kinds
from fabro.workflow.model import Node

if TYPE_CHECKING:
    from fabro.engine.runner import Engine

log = logging.getLogger(__name__)

# Kinds whose handlers apply `timeout` themselves (engine.md §6 step 6).
SELF_TIMED = frozenset({kinds.COMMAND, kinds.HUMAN})


async def with_retries(
    engine: Engine, node: Node, sid: str, policy: RetryPolicy, index: int
) -> tuple[Outcome, int]:
    """Execute with the retry policy (§12.2); returns the final outcome and attempts used."""
    attempt = 1
    while True:
        try:
            outcome = await execute_once(engine, node, sid, attempt, engine.state.context)
        except StageError as error:
            if error.retryable and attempt < policy.attempts:
                failure = FailureDetail(
                    message=error.message,
                    failure_class=effective_class(error.failure_class, error.message),
                )
                failed = StageFailed(
                    node_id=node.id, name=node.label, index=index, failure=failure, will_retry=True
                )
                attempt = await _wait_to_retry(engine, node, sid, policy, index, attempt, failed)
                continue
            return error.outcome(), attempt
        if outcome.status != "retry":
            return outcome, attempt
        if attempt < policy.attempts:
            attempt = await _wait_to_retry(engine, node, sid, policy, index, attempt)
            continue
        if node.allow_partial:
            return outcome.with_(
                status="partial_success",
                failure=None,
                notes="retries exhausted, partial accepted",
            ), attempt
        return Outcome.fail("max retries exceeded"), attempt


async def _wait_to_retry(
    engine: Engine,
    node: Node,
    sid: str,
    policy: RetryPolicy,
    index: int,
    attempt: int,
    *events: RunEvent,
) -> int:
    """Announce the next attempt (after ``events``), wait the policy's delay, and record the
    attempt number; returns it."""
    delay = policy.delay_ms(attempt, engine.deps.rng)
    retrying = StageRetrying(
        node_id=node.id,
        name=node.label,
        index=index,
        attempt=attempt + 1,
        max_attempts=policy.attempts,
        delay_ms=delay,
    )
    await engine.recorder.emit(*events, retrying)
    await engine.deps.sleep(delay / 1000)
    await engine.recorder.set_attempts(sid, attempt + 1)
    return attempt + 1


async def execute_once(
    engine: Engine, node: Node, sid: str, attempt: int, context: Mapping[str, Any]
) -> Outcome:
    """One attempt: the handler under the node timeout; unexpected errors are retryable."""
    kind = node.kind
    handler = engine.handlers.get(kind) or engine.handlers[kinds.AGENT]
    stage = StageRun(
        spec=engine.spec,
        node=node,
        stage_id=sid,
        attempt=attempt,
        # A read-only view, not a copy (O(context) per stage): the state does not change
        # while its stage runs, and handlers return context_updates instead.
        context=MappingProxyType(context),
        deps=engine.deps,
        recorder=engine.recorder,
        watchdog=engine.watchdog,
        engine=engine,
        logs=engine.pending_logs,
    )
    timeout_ms = node.timeout_ms if kind not in SELF_TIMED else None
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


def _panic(stage: StageRun, exc: BaseException) -> StageError:
    """An unexpected handler exception: a retryable error; the traceback goes to panic.txt."""
    trace = "".join(traceback.format_exception(exc))
    try:
        (stage.stage_dir / "panic.txt").write_text(trace, encoding="utf-8")
    except OSError as error:  # an artifact for people: the stage's error is what counts
        log.warning("cannot write %s/panic.txt: %s", stage.stage_dir, error.strerror or error)
    log.warning("handler of stage %s raised %s", stage.stage_id, type(exc).__name__)
    return StageError(f"handler panicked: {exc}")
