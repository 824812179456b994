"""Cancellation, pause/unpause, the stall watchdog and resuming from a checkpoint."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import pytest

from fabro.engine.control import RunControl
from fabro.engine.outcome import Outcome
from fabro.engine.questions import Answer, StoredAnswers
from fabro.engine.stage import StageRun
from fabro.events.types import Prompt
from fabro.storage import events as event_rows
from fabro.storage import questions
from fabro.storage.store import RunNotActive
from fabro.workflow.model import Node
from tests.engine.harness import ByNode, Harness, hang


async def wait_for(predicate: object, timeout_s: float = 10.0) -> None:
    assert callable(predicate)
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes; reap-independent check through /proc.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


# ---- cancellation (§7) --------------------------------------------------------------------------

CANCEL = """
digraph C {
  start [shape=Mdiamond]
  long [shape=parallelogram,
        script="sh -c 'echo $$ > child.pid; exec sleep 60' & echo $$ > shell.pid; wait"]
  after [shape=parallelogram, script="true"]
  exit [shape=Msquare]
  start -> long -> after -> exit
}
"""


async def test_cancel_kills_the_process_group_and_stops_all_events(harness: Harness) -> None:
    record = await harness.create(CANCEL)
    engine = await harness.engine(record)
    task = asyncio.create_task(engine.run())
    work = harness.lifecycle.run_dir(record.id) / "work"
    await wait_for(lambda: (work / "child.pid").exists() and (work / "shell.pid").exists())
    await asyncio.sleep(0.05)
    shell = int((work / "shell.pid").read_text())
    child = int((work / "child.pid").read_text())
    assert alive(shell) and alive(child)

    cancelled = await harness.lifecycle.cancel(record.id)
    assert cancelled is not None and cancelled.status == "cancelled"
    task.cancel()
    try:
        await asyncio.wait_for(task, 10)
    except asyncio.CancelledError:
        pass
    await wait_for(lambda: not alive(shell) and not alive(child), 5)

    variants = await harness.variants(record.id)
    assert variants[-1] == "RunCancelled"
    assert (await harness.of(record.id, "RunCancelled")) == [
        {"run_id": record.id, "node_id": "long"}
    ]
    assert (await harness.stage(record.id, "long")).status == "cancelled"
    run = await harness.get_run(record.id)
    assert run.status == "cancelled" and run.finished_at is not None
    await asyncio.sleep(0.1)
    assert await harness.variants(record.id) == variants  # nothing after RunCancelled


async def test_cancel_during_a_wait_interrupts_the_sleep(harness: Harness) -> None:
    dot = """
    digraph W {
      start [shape=Mdiamond]
      pause [shape=insulator, duration="1h"]
      exit [shape=Msquare]
      start -> pause -> exit
    }
    """
    record = await harness.create(dot)
    deps = harness.deps()
    deps.sleep = asyncio.sleep  # a real, cancellable sleep
    engine = await harness.engine(record, deps=deps)
    task = asyncio.create_task(engine.run())
    await wait_for(
        lambda: any(
            e.variant == "StageStarted" and e.payload["StageStarted"]["node_id"] == "pause"
            for e in harness.published
        )
    )
    await harness.lifecycle.cancel(record.id)
    task.cancel()
    try:
        await asyncio.wait_for(task, 5)
    except asyncio.CancelledError:
        pass
    assert (await harness.stage(record.id, "pause")).status == "cancelled"
    assert (await harness.variants(record.id))[-1] == "RunCancelled"


# ---- pause and unpause (§7) ---------------------------------------------------------------------

PAUSE = """
digraph P {
  start [shape=Mdiamond]
  a [shape=tab, prompt="a"]
  b [shape=tab, prompt="b"]
  exit [shape=Msquare]
  start -> a -> b -> exit
}
"""


async def test_pause_holds_at_the_next_stage_boundary(harness: Harness) -> None:
    control = RunControl()
    record = await harness.create(PAUSE)

    async def pause_mid_stage(node: Node, stage: StageRun) -> Outcome:
        assert await harness.lifecycle.pause(record.id) is not None
        control.pause()
        await asyncio.sleep(0.02)
        return Outcome.success("a done")

    flaky = ByNode(a=pause_mid_stage)
    engine = await harness.engine(record, handlers=flaky.handlers, control=control)
    task = asyncio.create_task(engine.run())
    await asyncio.wait_for(control.held.wait(), 5)
    # `a` finished and was committed; `b` has not started.
    checkpoint = await harness.checkpoint(record.id)
    assert checkpoint["completed_nodes"] == ["start", "a"]
    assert checkpoint["next_node_id"] == "b"
    started = [e["node_id"] for e in await harness.of(record.id, "StageStarted")]
    assert started == ["start", "a"]
    assert (await harness.get_run(record.id)).status == "paused"
    await asyncio.sleep(0.1)
    assert not task.done()
    assert [e["node_id"] for e in await harness.of(record.id, "StageStarted")] == started

    assert await harness.lifecycle.unpause(record.id) is not None
    control.unpause()
    result = await asyncio.wait_for(task, 5)
    assert result.status == "completed"
    assert flaky.calls == ["start", "a", "b"]
    variants = await harness.variants(record.id)
    assert variants.index("RunPaused") < variants.index("RunResumed")


async def test_an_engine_started_paused_holds_before_the_first_stage(harness: Harness) -> None:
    control = RunControl(paused=True)
    record = await harness.create(PAUSE)
    engine = await harness.engine(record, control=control)
    task = asyncio.create_task(engine.run())
    await asyncio.wait_for(control.held.wait(), 5)
    assert await harness.of(record.id, "StageStarted") == []
    control.unpause()
    assert (await asyncio.wait_for(task, 5)).status == "completed"


# ---- the stall watchdog (§8) --------------------------------------------------------------------

STALL = """
digraph S {
  graph [stall_timeout="200ms"]
  start [shape=Mdiamond]
  stuck [shape=tab, prompt="x"]
  exit [shape=Msquare]
  start -> stuck -> exit
}
"""


async def test_stall_watchdog_aborts_a_silent_stage_and_fails_the_run(harness: Harness) -> None:
    flaky = ByNode(stuck=hang)
    run, result = await asyncio.wait_for(harness.run(STALL, handlers=flaky.handlers), 10)
    assert result.status == "failed"
    assert result.error == 'stall watchdog: node "stuck" had no activity for 0.2s'
    assert run.error_message == f"Engine error: {result.error}"
    stall = await harness.of(run.id, "StallWatchdogTimeout")
    assert len(stall) == 1 and stall[0]["node"] == "stuck"
    assert 0.2 <= stall[0]["idle_seconds"] < 2
    variants = await harness.variants(run.id)
    assert variants[-2:] == ["StallWatchdogTimeout", "WorkflowRunFailed"]
    assert (await harness.stage(run.id, "stuck")).status == "failed"
    assert flaky.calls.count("stuck") == 1  # a stall is not retried


async def test_a_stall_aborts_only_its_own_run(harness: Harness) -> None:
    """Another run in the same process with a stage of the same id is left alone."""

    async def slow(node: Node, stage: StageRun) -> Outcome:
        await asyncio.sleep(0.6)
        return Outcome.success("slow but fine")

    calm = STALL.replace('stall_timeout="200ms"', 'stall_timeout="30s"')
    stalled, healthy = await asyncio.wait_for(
        asyncio.gather(
            harness.run(STALL, handlers=ByNode(stuck=hang).handlers),
            harness.run(calm, handlers=ByNode(stuck=slow).handlers),
        ),
        10,
    )
    assert stalled[1].status == "failed"
    assert healthy[1].status == "completed", healthy[1].error


async def test_activity_keeps_the_watchdog_quiet(harness: Harness) -> None:
    async def chatty(node: Node, stage: StageRun) -> Outcome:
        for _ in range(8):
            await asyncio.sleep(0.05)
            await stage.emit(Prompt(stage=node.id, text="tick"))
        return Outcome.success()

    run, result = await harness.run(STALL, handlers=ByNode(stuck=chatty).handlers)
    assert result.status == "completed", result.error
    assert "StallWatchdogTimeout" not in await harness.variants(run.id)


async def test_waiting_for_a_human_or_sleeping_is_not_a_stall(harness: Harness) -> None:
    dot = """
    digraph S {
      graph [stall_timeout="100ms"]
      start [shape=Mdiamond]
      pause [shape=insulator, duration="400ms"]
      exit [shape=Msquare]
      start -> pause -> exit
    }
    """
    deps = harness.deps()
    deps.sleep = asyncio.sleep
    _, result = await harness.run(dot, deps=deps)
    assert result.status == "completed", result.error


# ---- resume from a checkpoint (§5) --------------------------------------------------------------

RESUME = """
digraph R {
  start [shape=Mdiamond]
  a [shape=tab, prompt="a"]
  b [shape=tab, prompt="b", fidelity="full"]
  c [shape=tab, prompt="c", fidelity="full"]
  exit [shape=Msquare]
  start -> a -> b -> c -> exit
}
"""


async def test_resume_from_checkpoint_never_reruns_completed_stages(harness: Harness) -> None:
    record = await harness.create(RESUME)
    crashing = ByNode(b=hang)
    engine = await harness.engine(record, handlers=crashing.handlers)
    task = asyncio.create_task(engine.run())
    await wait_for(lambda: "b" in crashing.calls)
    task.cancel()  # a crash: the run stays `running`, the stage row `running`
    try:
        await task
    except asyncio.CancelledError:
        pass
    assert (await harness.get_run(record.id)).status == "running"
    checkpoint = await harness.checkpoint(record.id)
    assert checkpoint["next_node_id"] == "b"

    seen: dict[str, dict[str, object]] = {}

    async def record_context(node: Node, stage: StageRun) -> Outcome:
        seen[node.id] = dict(stage.context)
        return Outcome.success()

    resumed = ByNode(b=record_context, c=record_context)
    result = await (await harness.resume(record, handlers=resumed.handlers)).run()
    assert result.status == "completed", result.error
    assert resumed.calls == ["b", "c"]  # start and a never run again
    assert seen["b"]["internal.fidelity"] == "summary:high"  # degraded once, after recovery
    assert seen["c"]["internal.fidelity"] == "full"
    starts = [(e["node_id"], e["index"]) for e in await harness.of(record.id, "StageStarted")]
    assert starts == [("start", 0), ("a", 1), ("b", 2), ("b", 2), ("c", 3), ("exit", 4)]
    assert [s.stage_id for s in await harness.stages(record.id)] == ["start", "a", "b", "c", "exit"]
    assert all(s.status == "completed" for s in await harness.stages(record.id))
    run = await harness.get_run(record.id)
    assert run.status == "completed"
    assert "RunResumed" in await harness.variants(record.id)


async def test_a_run_cancelled_under_a_running_handler_stops_without_a_panic(
    harness: Harness,
) -> None:
    record = await harness.create(PAUSE)

    async def cancelled_meanwhile(node: Node, stage: StageRun) -> Outcome:
        await harness.lifecycle.cancel(record.id)
        await stage.emit(Prompt(stage=node.id, text="too late"))
        return Outcome.success()

    flaky = ByNode(a=cancelled_meanwhile)
    engine = await harness.engine(record, handlers=flaky.handlers)
    with pytest.raises(RunNotActive):
        await engine.run()
    # `a`'s per-stage commit is queued, so the in-memory handler of `b` may begin before its
    # failure is known; nothing of `b` is stored (and nothing outside the database runs: below).
    assert flaky.calls[:2] == ["start", "a"]
    assert not (harness.lifecycle.run_dir(record.id) / "nodes" / "a" / "panic.txt").exists()
    assert (await harness.variants(record.id))[-1] == "RunCancelled"
    assert [s.stage_id for s in await harness.stages(record.id)] == ["start", "a"]


async def test_no_program_runs_after_the_run_was_cancelled(
    harness: Harness, tmp_path: Path
) -> None:
    witness = tmp_path / "witness"
    record = await harness.create(
        PAUSE.replace(
            'b [shape=tab, prompt="b"]', f'b [shape=parallelogram, script="echo b >> {witness}"]'
        )
    )

    async def cancelled_meanwhile(node: Node, stage: StageRun) -> Outcome:
        await harness.lifecycle.cancel(record.id)
        return Outcome.success()

    engine = await harness.engine(record, handlers=ByNode(a=cancelled_meanwhile).handlers)
    with pytest.raises(RunNotActive):
        await engine.run()
    assert not witness.exists()
    assert (await harness.variants(record.id))[-1] == "RunCancelled"


GATE = """
digraph G {
  start [shape=Mdiamond]
  gate [shape=hexagon, label="Go on?"]
  yes [shape=tab, prompt="yes"]
  no [shape=tab, prompt="no"]
  exit [shape=Msquare]
  start -> gate
  gate -> yes [label="[Y] Yes"]
  gate -> no [label="[N] No"]
  yes -> exit
  no -> exit
}
"""


async def test_recovered_human_stage_reuses_its_question_and_stored_answer(
    harness: Harness,
) -> None:
    record = await harness.create(GATE)
    deps = harness.deps(interviewer=StoredAnswers())
    engine = await harness.engine(record, deps=deps)
    task = asyncio.create_task(engine.run())
    await wait_for(lambda: any(e.variant == "InterviewStarted" for e in harness.published))
    task.cancel()  # a crash while waiting: the question stays pending
    with contextlib.suppress(asyncio.CancelledError):
        await task
    pending = await questions.pending_questions(harness.db, record.id)
    assert [q.qid for q in pending] == ["q-1"]
    # Answered while the run is down (the API accepts answers for recovering runs).
    assert await deps.desk.answer(record.id, "q-1", Answer(selected_option_key="N"), "late")

    result = await asyncio.wait_for((await harness.resume(record, deps=deps)).run(), 10)
    assert result.status == "completed", result.error
    assert len(await harness.of(record.id, "InterviewStarted")) == 1  # no second question
    assert (await harness.of(record.id, "InterviewCompleted"))[0]["answer"] == "N"
    started = [e["node_id"] for e in await harness.of(record.id, "StageStarted")]
    assert started == ["start", "gate", "gate", "no", "exit"]
    assert await questions.get_question(harness.db, record.id, "q-2") is None


class Crash(BaseException):
    """The process dies: nothing catches it, and the open transaction is never committed."""


async def test_a_crash_while_a_gate_opens_never_leaves_an_unannounced_question(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by scripts/soak: the question and its InterviewStarted were two commits. A crash
    # between them left a pending question that the re-run gate reused without announcing,
    # so a client following the events never learned it had something to answer.
    record = await harness.create(GATE)
    deps = harness.deps(interviewer=StoredAnswers())
    real_append = event_rows.append_events

    def crash_on_interview_started(tx, run_id, events, ts, last=None):  # type: ignore[no-untyped-def]
        if any(event.variant == "InterviewStarted" for event in events):
            raise Crash
        return real_append(tx, run_id, events, ts, last)

    monkeypatch.setattr(event_rows, "append_events", crash_on_interview_started)
    engine = await harness.engine(record, deps=deps)
    with pytest.raises(Crash):
        await engine.run()
    monkeypatch.setattr(event_rows, "append_events", real_append)
    assert await questions.pending_questions(harness.db, record.id) == []  # rolled back too

    task = asyncio.create_task((await harness.resume(record, deps=deps)).run())
    await wait_for(lambda: any(e.variant == "InterviewStarted" for e in harness.published))
    pending = await questions.pending_questions(harness.db, record.id)
    assert [q.qid for q in pending] == ["q-1"]
    assert await deps.desk.answer(record.id, "q-1", Answer(selected_option_key="Y"), "alice")
    result = await asyncio.wait_for(task, 10)
    assert result.status == "completed", result.error
    variants = await harness.variants(record.id)
    assert variants.count("InterviewStarted") == 1
    assert variants.index("InterviewStarted") < variants.index("InterviewCompleted")
