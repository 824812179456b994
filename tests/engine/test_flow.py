"""Routing and failure semantics through the real engine (workflow-language.md §12)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random

import pytest

from fabro.engine.outcome import Outcome, PermanentError, RetryableError
from fabro.engine.retry import RetryPolicy
from fabro.engine.stage import StageRun
from fabro.storage import runs
from fabro.workflow.model import Node
from tests.engine.harness import ByNode, FrozenClock, Harness, sequence

LINE = """
digraph F {{
  graph [{graph}]
  start [shape=Mdiamond]
  work [{work}]
  after [shape=parallelogram, script="true"]
  exit [shape=Msquare]
  start -> work -> after -> exit
}}
"""


def line(work: str = 'prompt="w"', graph: str = 'goal="g"') -> str:
    return LINE.format(work=work, graph=graph)


def expected_delays(policy: RetryPolicy, count: int) -> list[float]:
    rng = random.Random(7)  # the harness's seed
    return [policy.delay_ms(a, rng) / 1000 for a in range(1, count + 1)]


# ---- retries (§12.2) ----------------------------------------------------------------------------


async def test_retryable_errors_are_retried_then_succeed(harness: Harness) -> None:
    flaky = ByNode(
        work=sequence(
            RetryableError("connection reset by peer"),
            RetryableError("boom", "deterministic"),
            Outcome.success("finally"),
        )
    )
    run, result = await harness.run(line(), handlers=flaky.handlers)
    assert result.status == "completed", result.error
    assert flaky.calls.count("work") == 3
    events = [
        e for e in await harness.events(run.id) if next(iter(e)) in ("StageFailed", "StageRetrying")
    ]
    assert [next(iter(e)) for e in events] == ["StageFailed", "StageRetrying"] * 2
    failed = [e["StageFailed"] for e in events if "StageFailed" in e]
    assert [
        (f["will_retry"], f["failure"]["message"], f["failure"]["failure_class"]) for f in failed
    ] == [
        (True, "connection reset by peer", "transient_infra"),
        (True, "boom", "deterministic"),
    ]
    delays = expected_delays(RetryPolicy(4, 5000, 2), 2)
    retrying = [e["StageRetrying"] for e in events if "StageRetrying" in e]
    assert [(r["attempt"], r["max_attempts"], r["delay_ms"] / 1000) for r in retrying] == [
        (2, 4, delays[0]),
        (3, 4, delays[1]),
    ]
    assert harness.sleep.delays == delays
    completed = [e for e in await harness.of(run.id, "StageCompleted") if e["node_id"] == "work"]
    assert (completed[0]["attempt"], completed[0]["max_attempts"]) == (3, 4)
    checkpoint = await harness.checkpoint(run.id)
    assert checkpoint["node_retries"]["work"] == 3
    assert checkpoint["context_values"]["internal.retry_count.work"] == 3
    assert (await harness.stage(run.id, "work")).attempts == 3


async def test_exhausted_retryable_errors_fail_with_the_error_text(harness: Harness) -> None:
    flaky = ByNode(work=sequence(RetryableError("rate limit hit")))
    run, result = await harness.run(
        line('prompt="w", retry_policy="linear"'), handlers=flaky.handlers
    )
    assert flaky.calls.count("work") == 3
    failed = [e for e in await harness.of(run.id, "StageFailed") if e["node_id"] == "work"]
    assert [f["will_retry"] for f in failed] == [True, True, False]
    assert failed[-1]["failure"] == {
        "message": "rate limit hit",
        "failure_class": "transient_infra",
        "failure_signature": "work|transient_infra|rate limit hit",
    }
    assert harness.sleep.delays == expected_delays(RetryPolicy(3, 500, 1), 2)
    assert result.status == "completed"  # the failed stage follows its edge


async def test_permanent_errors_are_not_retried(harness: Harness) -> None:
    flaky = ByNode(work=sequence(PermanentError("bad stylesheet")))
    run, _ = await harness.run(line(), handlers=flaky.handlers)
    assert flaky.calls.count("work") == 1
    assert [f["will_retry"] for f in await harness.of(run.id, "StageFailed")] == [False]
    assert harness.sleep.delays == []


async def test_unexpected_exceptions_are_retryable_panics(harness: Harness) -> None:
    flaky = ByNode(work=sequence(ValueError("kaput"), Outcome.success()))
    run, result = await harness.run(line(), handlers=flaky.handlers)
    assert result.status == "completed"
    failed = await harness.of(run.id, "StageFailed")
    assert failed[0]["failure"]["message"] == "handler panicked: kaput"
    assert failed[0]["will_retry"] is True
    panic = harness.lifecycle.run_dir(run.id) / "nodes" / "work" / "panic.txt"
    assert "ValueError: kaput" in panic.read_text()
    assert "Traceback" not in str(await harness.events(run.id))


async def test_retry_outcomes_are_repeated_without_stage_failed(harness: Harness) -> None:
    flaky = ByNode(
        work=sequence(Outcome.retry("not yet"), Outcome.retry("not yet"), Outcome.success())
    )
    run, result = await harness.run(line(), handlers=flaky.handlers)
    assert result.status == "completed"
    variants = await harness.variants(run.id)
    assert "StageFailed" not in variants
    assert variants.count("StageRetrying") == 2
    assert len(harness.sleep.delays) == 2


async def test_exhausted_retry_outcome_fails_max_retries_exceeded(harness: Harness) -> None:
    flaky = ByNode(work=sequence(Outcome.retry("not yet")))
    run, _ = await harness.run(line('prompt="w", max_retries=2'), handlers=flaky.handlers)
    assert flaky.calls.count("work") == 3
    failed = await harness.of(run.id, "StageFailed")
    assert [(f["failure"]["message"], f["will_retry"]) for f in failed] == [
        ("max retries exceeded", False)
    ]


async def test_allow_partial_turns_exhausted_retries_into_partial_success(harness: Harness) -> None:
    flaky = ByNode(work=sequence(Outcome.retry("not yet")))
    run, result = await harness.run(
        line('prompt="w", max_retries=1, allow_partial=true'), handlers=flaky.handlers
    )
    assert result.status == "completed"
    completed = await harness.first(run.id, "StageCompleted", "work")
    assert completed["status"] == "partial_success"
    assert completed["notes"] == "retries exhausted, partial accepted"
    assert completed.get("failure") is None


async def test_a_fail_outcome_is_never_retried(harness: Harness) -> None:
    flaky = ByNode(work=sequence(Outcome.fail("no")))
    await harness.run(line('prompt="w", retry_policy="aggressive"'), handlers=flaky.handlers)
    assert flaky.calls.count("work") == 1


async def test_node_timeout_fails_the_attempt(harness: Harness) -> None:
    async def slow(node: Node, stage: StageRun) -> Outcome:
        import asyncio

        await asyncio.sleep(10)
        return Outcome.success()

    flaky = ByNode(work=slow)
    run, _ = await harness.run(line('prompt="w", timeout="50ms"'), handlers=flaky.handlers)
    failed = await harness.of(run.id, "StageFailed")
    assert failed[0]["failure"]["message"] == "handler timed out after 50ms"
    assert failed[0]["failure"]["failure_class"] == "transient_infra"
    assert flaky.calls.count("work") == 1  # a fail outcome, not retried


# ---- auto_status, dead ends, failures without edges (§6.3, §12.4) -------------------------------


async def test_auto_status_turns_a_failure_into_success(harness: Harness) -> None:
    run, result = await harness.run(line('shape=parallelogram, script="exit 4", auto_status=true'))
    assert result.status == "completed"
    completed = await harness.first(run.id, "StageCompleted", "work")
    assert completed["status"] == "success"
    assert completed["notes"] == "auto-status: handler completed without writing status"
    outcome = (await harness.checkpoint(run.id))["node_outcomes"]["work"]
    assert outcome["context_updates"]["command.exit_code"] == 4


DEAD_END = """
digraph D {
  start [shape=Mdiamond]
  work [shape=parallelogram, script="SCRIPT"]
  exit [shape=Msquare]
  start -> work
}
"""


async def test_dead_end_completes_the_run(harness: Harness) -> None:
    run, result = await harness.run(DEAD_END.replace("SCRIPT", "true"))
    assert result.status == "completed" and run.status == "completed"
    variants = await harness.variants(run.id)
    assert variants[-3:] == ["StageCompleted", "CheckpointSaved", "WorkflowRunCompleted"]
    assert [e["node_id"] for e in await harness.of(run.id, "StageStarted")] == ["start", "work"]
    assert (await harness.checkpoint(run.id)).get("next_node_id") is None


async def test_failed_stage_without_edges_fails_the_run(harness: Harness) -> None:
    run, result = await harness.run(DEAD_END.replace("SCRIPT", "exit 1"))
    assert result.status == "failed"
    assert run.error_message == "Engine error: stage work failed with no outgoing fail edge"
    failed = await harness.of(run.id, "WorkflowRunFailed")
    assert failed[0]["error"]["data"]["message"] == "stage work failed with no outgoing fail edge"
    assert failed[0]["error"]["data"]["failure_class"] == "deterministic"
    assert (await harness.variants(run.id))[-1] == "WorkflowRunFailed"
    assert (await harness.stage(run.id, "work")).status == "failed"


async def test_failed_stage_without_edges_jumps_to_its_retry_target(harness: Harness) -> None:
    dot = """
    digraph T {
      graph [retry_target="exit", fallback_retry_target="start"]
      start [shape=Mdiamond]
      work [shape=parallelogram, script="exit 1", retry_target="missing",
            fallback_retry_target="recover"]
      recover [shape=parallelogram, script="true"]
      exit [shape=Msquare]
      start -> work
      recover -> exit
    }
    """
    run, result = await harness.run(dot)
    assert result.status == "completed", result.error
    assert [e["node_id"] for e in await harness.of(run.id, "StageStarted")] == [
        "start", "work", "recover", "exit",
    ]  # fmt: skip
    edges = await harness.of(run.id, "EdgeSelected")
    assert {"from_node": "work", "to_node": "recover", "label": None, "condition": None} in edges


# ---- goal gates (§12.3) -------------------------------------------------------------------------

GATED = """
digraph G {{
  graph [{graph}]
  start [shape=Mdiamond]
  impl [shape=tab, prompt="impl"]
  gate [shape=tab, prompt="gate", goal_gate=true{gate}]
  exit [shape=Msquare]
  start -> impl -> gate -> exit
}}
"""


async def test_unsatisfied_goal_gate_without_target_fails_the_run(harness: Harness) -> None:
    flaky = ByNode(gate=sequence(Outcome.fail("not good")))
    run, result = await harness.run(GATED.format(graph="", gate=""), handlers=flaky.handlers)
    assert result.status == "failed"
    assert (
        run.error_message == "Engine error: goal gate unsatisfied for node gate and no retry target"
    )
    starts = [e["node_id"] for e in await harness.of(run.id, "StageStarted")]
    assert starts == ["start", "impl", "gate"]  # the exit stage is not reported


async def test_unsatisfied_goal_gate_jumps_to_the_retry_target(harness: Harness) -> None:
    flaky = ByNode(gate=sequence(Outcome.fail("not good"), Outcome.success()))
    run, result = await harness.run(
        GATED.format(graph='retry_target="impl"', gate=""), handlers=flaky.handlers
    )
    assert result.status == "completed", result.error
    starts = [e["node_id"] for e in await harness.of(run.id, "StageStarted")]
    assert starts == ["start", "impl", "gate", "impl", "gate", "exit"]
    edges = [(e["from_node"], e["to_node"]) for e in await harness.of(run.id, "EdgeSelected")]
    assert ("exit", "impl") not in edges and ("gate", "impl") not in edges  # a jump, no edge


async def test_goal_gate_node_target_beats_graph_target(harness: Harness) -> None:
    flaky = ByNode(gate=sequence(Outcome.fail("not good"), Outcome.success()))
    run, result = await harness.run(
        GATED.format(graph='retry_target="impl"', gate=', retry_target="gate"'),
        handlers=flaky.handlers,
    )
    assert result.status == "completed"
    starts = [e["node_id"] for e in await harness.of(run.id, "StageStarted")]
    assert starts == ["start", "impl", "gate", "gate", "exit"]


async def test_partial_success_satisfies_a_goal_gate(harness: Harness) -> None:
    flaky = ByNode(gate=sequence(Outcome("partial_success")))
    _, result = await harness.run(GATED.format(graph="", gate=""), handlers=flaky.handlers)
    assert result.status == "completed"


# ---- visit limits (§12.5) -----------------------------------------------------------------------

CYCLE = """
digraph V {{
  graph [{graph}]
  start [shape=Mdiamond]
  a [shape=tab, prompt="a"{a}]
  b [shape=diamond]
  exit [shape=Msquare]
  start -> a -> b
  b -> a
  b -> exit [condition="never=1"]
}}
"""


async def test_node_visit_limit(harness: Harness) -> None:
    run, result = await harness.run(CYCLE.format(graph="", a=", max_visits=3"))
    assert result.error == 'node "a" visited 3 times (node limit 3); run is stuck in a cycle'
    assert [e["node_id"] for e in await harness.of(run.id, "StageStarted")].count("a") == 2
    assert (await harness.checkpoint(run.id))["node_visits"]["a"] == 2
    assert run.error_message == f"Engine error: {result.error}"


async def test_graph_visit_limit(harness: Harness) -> None:
    _, result = await harness.run(CYCLE.format(graph="max_node_visits=4", a=""))
    assert result.error == 'node "a" visited 4 times (graph limit 4); run is stuck in a cycle'


async def test_simulated_backend_default_visit_limit(harness: Harness) -> None:
    run, result = await harness.run(CYCLE.format(graph="", a=""))
    assert result.error == 'node "a" visited 10 times (graph limit 10); run is stuck in a cycle'
    stage_ids = [s.stage_id for s in await harness.stages(run.id)]
    assert "a-visit_9" in stage_ids and "a-visit_10" not in stage_ids


# ---- loop_restart (§12.6) -----------------------------------------------------------------------

RESTART = """
digraph R {
  start [shape=Mdiamond]
  a [shape=tab, prompt="a"]
  b [shape=tab, prompt="b"]
  exit [shape=Msquare]
  start -> a -> b
  b -> exit [condition="internal.node_visit_count=2"]
  b -> a [loop_restart=true]
}
"""


async def test_loop_restart_starts_over_with_a_fresh_context(harness: Harness) -> None:
    seen: list[dict[str, object]] = []

    async def remember(node: Node, stage: StageRun) -> Outcome:
        seen.append(dict(stage.context))
        return Outcome.success(context_updates={"mark": len(seen)})

    flaky = ByNode(a=remember)
    run, result = await harness.run(RESTART, handlers=flaky.handlers)
    assert result.status == "completed", result.error
    variants = await harness.variants(run.id)
    restart_at = variants.index("LoopRestart")
    assert variants[restart_at + 1] == "WorkflowRunStarted"
    assert variants.count("WorkflowRunStarted") == 2
    assert await harness.of(run.id, "LoopRestart") == [{"from_node": "b", "to_node": "a"}]
    assert seen[1].get("mark") is None  # fresh context
    assert seen[1]["internal.run_id"] == run.id
    assert "response.b" not in seen[1]
    starts = [(e["node_id"], e["index"]) for e in await harness.of(run.id, "StageStarted")]
    assert starts == [("start", 0), ("a", 1), ("b", 2), ("a", 0), ("b", 1), ("exit", 2)]
    checkpoint = await harness.checkpoint(run.id)
    assert checkpoint["completed_nodes"] == ["a", "b"]
    assert checkpoint["node_visits"] == {"start": 1, "a": 2, "b": 2}


async def test_loop_restart_is_blocked_for_non_transient_failures(harness: Harness) -> None:
    flaky = ByNode(b=sequence(Outcome.fail("assertion error in test_x")))
    run, result = await harness.run(RESTART, handlers=flaky.handlers)
    assert result.error == (
        "loop_restart blocked: failure_class=deterministic (requires transient_infra), "
        "node=b, failure_reason=assertion error in test_x"
    )
    assert "LoopRestart" not in await harness.variants(run.id)


async def test_transient_loop_restarts_hit_the_restart_circuit_breaker(harness: Harness) -> None:
    flaky = ByNode(b=sequence(Outcome.fail("connection refused on port 5432")))
    run, result = await harness.run(RESTART.replace("=2", "=99"), handlers=flaky.handlers)
    assert result.error == (
        "loop_restart circuit breaker: signature "
        "b|transient_infra|connection refused on port <n> repeated 3 times (limit 3)"
    )
    assert len(await harness.of(run.id, "LoopRestart")) == 2


# ---- the deterministic circuit breaker (§12.7) --------------------------------------------------

LOOP = """
digraph B {
  graph [loop_restart_signature_limit=LIMIT]
  start [shape=Mdiamond]
  fix [shape=parallelogram, script="echo attempt; exit 1"]
  exit [shape=Msquare]
  start -> fix
  fix -> fix [condition="outcome=fail"]
  fix -> exit
}
"""


async def test_repeated_deterministic_failures_trip_the_breaker(harness: Harness) -> None:
    run, result = await harness.run(LOOP.replace("LIMIT", "3"))
    signature = "fix|deterministic|script failed with exit code: <n> ## stdout attempt"
    assert result.error == (
        f"deterministic failure cycle detected: signature {signature} repeated 3 times (limit 3)"
    )
    # The breaking stage emits no completion events.
    failed = await harness.of(run.id, "StageFailed")
    assert len(failed) == 2
    assert failed[0]["failure"]["failure_signature"] == signature
    assert [s.status for s in await harness.stages(run.id)] == [
        "completed",
        "failed",
        "failed",
        "failed",
    ]
    assert (await harness.checkpoint(run.id))["loop_failure_signatures"] == {signature: 2}


async def test_breaker_limit_is_configurable(harness: Harness) -> None:
    run, result = await harness.run(LOOP.replace("LIMIT", "1"))
    assert result.error is not None and result.error.endswith("repeated 1 times (limit 1)")
    assert await harness.of(run.id, "StageFailed") == []


# ---- the per-stage checkpoint (§6 step 13) ------------------------------------------------------


async def test_checkpoint_after_each_stage(harness: Harness) -> None:
    snapshots: list[dict[str, object]] = []

    async def peek(node: Node, stage: StageRun) -> Outcome:
        await stage.recorder.settle()  # the last per-stage commit is queued, not waited for
        record = await runs.get_checkpoint(harness.db, stage.run_id)
        assert record is not None
        snapshots.append(record.data)
        return Outcome.success(context_updates={f"seen.{node.id}": True})

    flaky = ByNode(a=peek, b=peek)
    dot = RESTART.replace(
        'b -> exit [condition="internal.node_visit_count=2"]', "b -> exit"
    ).replace("b -> a [loop_restart=true]", "")
    run, result = await harness.run(dot, handlers=flaky.handlers)
    assert result.status == "completed"
    first, second = snapshots
    assert first["completed_nodes"] == ["start"]
    assert first["next_node_id"] == "a" and first["current_node"] == "start"
    assert first["node_retries"] == {"start": 1}
    assert second["completed_nodes"] == ["start", "a"]
    assert second["next_node_id"] == "b"
    assert second["node_retries"] == {"start": 1, "a": 1}
    context = second["context_values"]
    assert isinstance(context, dict)
    assert context["seen.a"] is True and context["outcome"] == "success"
    assert context["internal.retry_count.a"] == 1
    assert context["internal.run_id"] == run.id
    assert second["node_outcomes"]["a"]["status"] == "success"  # type: ignore[index]
    final = await harness.checkpoint(run.id)
    assert final["completed_nodes"] == ["start", "a", "b"] and final["next_node_id"] == "exit"
    assert run.current_node == "exit"


async def test_a_timeout_error_raised_by_a_handler_is_a_panic_not_a_node_timeout(
    harness: Harness,
) -> None:
    flaky = ByNode(work=sequence(TimeoutError("socket read timed out"), Outcome.success()))
    run, result = await harness.run(line(), handlers=flaky.handlers)
    assert result.status == "completed"
    failed = await harness.of(run.id, "StageFailed")
    assert [(f["will_retry"], f["failure"]["message"]) for f in failed] == [
        (True, "handler panicked: socket read timed out")
    ]
    assert flaky.calls.count("work") == 2


async def test_large_context_values_are_offloaded_to_files(harness: Harness) -> None:
    big = "é" * 60_000  # 120 KB of JSON

    async def produce(node: Node, stage: StageRun) -> Outcome:
        return Outcome.success(context_updates={"big/value": big, "small": "s"})

    run, result = await harness.run(line(), handlers=ByNode(work=produce).handlers)
    assert result.status == "completed"
    ctx = (await harness.checkpoint(run.id))["context_values"]
    path = harness.lifecycle.run_dir(run.id) / "nodes" / "work" / "values" / "big_value.json"
    assert ctx["big/value"] == f"file://{path.resolve()}"
    assert ctx["small"] == "s"
    assert json.loads(path.read_text(encoding="utf-8")) == big


# ---- the event loop stays free while stages run that never wait ----------------------------------


async def test_stages_that_never_wait_still_let_the_event_loop_turn(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Simulated agent stages never suspend: without Engine._catch_up a whole run would hold
    # the server's loop (its API, its streams) until it ended.
    from bench.engine import linear_workflow
    from fabro.engine import runner

    monkeypatch.setattr(runner, "YIELD_S", 0.0)  # catch up before every stage
    record = await harness.create(linear_workflow(40))
    engine = await harness.engine(record)
    progress_seen: set[int] = set()  # completed stages, as other tasks see the run go on
    running = True

    async def watch() -> None:
        while running:
            progress_seen.add(len(engine.state.completed_nodes))
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    result = await engine.run()
    running = False
    await watcher
    assert result.status == "completed", result.error
    assert len(progress_seen) >= 40, sorted(progress_seen)


async def test_stage_and_run_times_come_from_the_injected_clock(harness: Harness) -> None:
    # A frozen clock: the command sleeps 20 ms of real time, none of the clock's.
    deps = dataclasses.replace(harness.deps(), clock=FrozenClock())
    run, result = await harness.run(line('shape=parallelogram, script="sleep 0.02"'), deps=deps)
    assert result.status == "completed", result.error
    work = await harness.stage(run.id, "work")
    assert (work.started_at, work.finished_at, work.duration_ms) == (
        "2030-01-02T03:04:05.006Z",
        "2030-01-02T03:04:05.006Z",
        0,
    )
    completed = await harness.of(run.id, "StageCompleted")
    assert {e["node_id"]: e["duration_ms"] for e in completed}["work"] == 0
    [finished] = await harness.of(run.id, "WorkflowRunCompleted")
    assert finished["duration_ms"] == 0
