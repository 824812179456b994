"""Parallel stages: run every branch target concurrently, then join (engine.md §9.5)."""

from __future__ import annotations

import asyncio
import copy
import json
import math
import re
from typing import Any

from fabro.engine.branches import cancel_and_wait
from fabro.engine.outcome import SUCCESSFUL, Outcome, Status
from fabro.engine.routing import parallel_join_target
from fabro.engine.stage import StageRun
from fabro.events.types import ParallelCompleted, ParallelEarlyTermination, ParallelStarted
from fabro.workflow.model import Node

_K_OF_N = re.compile(r"^k_of_n\((\d+)\)$")
# Unambiguous, with possessive repeats: `[0-9]*\.?[0-9]+` split a long run of digits in
# quadratically many ways before failing, and `join_policy` is workflow text.
_QUORUM = re.compile(r"^quorum\(([0-9]++(?:\.[0-9]++)?|\.[0-9]++)\)$")


def join_satisfied(policy: str, successes: int, total: int) -> bool | None:
    """True/False for counting policies; None for `wait_all` (decided by error policy)."""
    if policy == "first_success":
        return successes >= 1
    if match := _K_OF_N.match(policy):
        return successes >= int(match[1])
    if match := _QUORUM.match(policy):
        return successes >= math.ceil(float(match[1]) * total)
    return None


def branch_result(branch: str, outcome: Outcome) -> dict[str, Any]:
    result: dict[str, Any] = {"id": branch, "status": outcome.status}
    if outcome.notes:
        result["notes"] = outcome.notes
    if outcome.failure:
        result["failure_reason"] = outcome.failure.message
    response = outcome.context_updates.get(f"response.{branch}")
    if response is not None:
        result["response"] = response
    return result


async def parallel(node: Node, stage: StageRun) -> Outcome:
    branches = [edge.target for edge in stage.graph.outgoing(node.id)]
    if not branches:
        return Outcome.fail("No branches for parallel node")
    join_policy, error_policy = node.join_policy, node.error_policy
    await stage.emit(
        ParallelStarted(
            branch_count=len(branches), join_policy=join_policy, error_policy=error_policy
        )
    )
    started = stage.deps.clock.monotonic()
    limit = asyncio.Semaphore(max(node.max_parallel, 1))
    outcomes: dict[int, Outcome] = {}

    async def run(index: int, branch: str) -> tuple[int, Outcome]:
        async with limit:
            context = copy.deepcopy(dict(stage.context))
            return index, await stage.engine.run_branch(stage, branch, context, index)

    tasks = [asyncio.create_task(run(i, b), name=f"branch-{b}") for i, b in enumerate(branches)]
    try:
        for finished in asyncio.as_completed(tasks):
            index, outcome = await finished
            outcomes[index] = outcome
            if error_policy == "fail_fast" and outcome.status == "fail":
                pending = len(branches) - len(outcomes)
                for task in tasks:
                    await cancel_and_wait(task)
                panicked = outcome.failure_message.startswith("handler panicked")
                await stage.emit(
                    ParallelEarlyTermination(
                        reason="fail_fast_handler_error" if panicked else "fail_fast_branch_failed",
                        completed_count=len(outcomes),
                        pending_count=pending,
                    )
                )
                break
    finally:
        for task in tasks:
            if not task.done():
                await cancel_and_wait(task)

    ordered = [(branches[i], outcomes[i]) for i in sorted(outcomes)]
    results = [branch_result(branch, outcome) for branch, outcome in ordered]
    updates: dict[str, Any] = {"parallel.results": results, "parallel.branch_count": len(branches)}
    for branch, outcome in ordered:
        key = f"response.{branch}"
        if key in outcome.context_updates:
            updates[key] = outcome.context_updates[key]
    (stage.stage_dir / "parallel_results.json").write_text(
        json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    successes = sum(1 for _, o in ordered if o.status in SUCCESSFUL)
    failures = sum(1 for _, o in ordered if o.status in ("fail", "retry"))
    await stage.emit(
        ParallelCompleted(
            duration_ms=int((stage.deps.clock.monotonic() - started) * 1000),
            success_count=successes,
            failure_count=failures,
        )
    )
    satisfied = join_satisfied(join_policy, successes, len(branches))
    if satisfied is False:
        return Outcome.fail(
            f"Join policy not satisfied: {successes}/{len(branches)} succeeded",
            context_updates=updates,
        )
    status: Status = (
        "partial_success"
        if satisfied is None and failures and error_policy != "ignore"
        else "success"
    )
    jump = parallel_join_target(stage.graph, branches)
    return Outcome(
        status,
        notes=f"Parallel: {successes}/{len(branches)} branches succeeded",
        context_updates=updates,
        jump_to_node=jump,
    )
