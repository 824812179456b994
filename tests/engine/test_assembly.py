"""One run assembly for the server, `fabro run`, the tests and the bench (engine.md §3, §5)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fabro.engine.assembly import assemble_run, run_levels
from fabro.engine.lifecycle import NewRun
from fabro.llm.resolve import LevelChoice
from fabro.workflow.prepare import prepare
from tests.engine.harness import ByNode, Harness, hang

LINE = """digraph Line {
  start [shape=Mdiamond]
  exit [shape=Msquare]
  a [shape=parallelogram, script="true"]
  b [shape=parallelogram, script="true"]
  start -> a -> b -> exit
}"""


def test_levels_come_from_the_run_config_and_the_process_default() -> None:
    config = {
        "run_override": {"model": "cli-model"},
        "llm": {"model": "config-model", "provider": "openai"},
    }
    levels = run_levels(config, LevelChoice("server-model", "anthropic"))
    assert levels.run_override == LevelChoice("cli-model", None)
    assert levels.run_config == LevelChoice("config-model", "openai")
    assert levels.server_default == LevelChoice("server-model", "anthropic")
    assert run_levels({}).server_default == LevelChoice()


async def test_a_fresh_run_is_started_and_its_spec_comes_from_the_record(
    harness: Harness, tmp_path: Path
) -> None:
    graph = prepare(LINE).graph
    config = {"workflow_dir": str(tmp_path), "llm": {"model": "m1"}}
    record = await harness.lifecycle.create(
        NewRun(graph=graph, dot_source=LINE, title="t", vars={"x": "1"}, config=config)
    )
    assembled = await assemble_run(
        harness.lifecycle, record, harness.deps(), server_default=LevelChoice("m0", None)
    )
    assert assembled is not None
    assert not assembled.claim.recovered and assembled.claim.state is None
    assert (await harness.get_run(record.id)).status == "running"
    spec = assembled.engine.spec
    assert spec.run_dir == harness.lifecycle.run_dir(record.id)
    assert spec.work_dir == assembled.claim.work_dir
    assert spec.workflow_dir == tmp_path
    assert spec.vars == {"x": "1"}
    assert spec.llm.run_config == LevelChoice("m1", None)
    assert spec.llm.server_default == LevelChoice("m0", None)
    assert (await assembled.run()).status == "completed"
    # The recorder writes through the lifecycle's sink.
    assert harness.published[-1].variant == "WorkflowRunCompleted"


async def test_a_resumed_run_is_claimed_and_continues_from_its_checkpoint(
    harness: Harness,
) -> None:
    record = await harness.create(LINE)
    crashing = ByNode(b=hang)
    first = await assemble_run(
        harness.lifecycle, record, harness.deps(), handlers=crashing.handlers
    )
    assert first is not None
    task = asyncio.create_task(first.run())
    deadline = asyncio.get_running_loop().time() + 10
    while "b" not in crashing.calls:
        assert asyncio.get_running_loop().time() < deadline, "b never started"
        await asyncio.sleep(0.01)
    task.cancel()  # a crash in b: the run stays `running`
    await asyncio.gather(task, return_exceptions=True)

    again = ByNode()
    running = await harness.get_run(record.id)
    resumed = await assemble_run(
        harness.lifecycle, running, harness.deps(), resume=True, handlers=again.handlers
    )
    assert resumed is not None and resumed.claim.recovered
    assert resumed.claim.state is not None and resumed.claim.state.next_node_id == "b"
    assert "RunResumed" in await harness.variants(record.id)
    assert (await resumed.run()).status == "completed"
    assert again.calls == ["b"]  # start and a are not run again


async def test_a_run_still_starting_is_started_afresh_on_resume(harness: Harness) -> None:
    record = await harness.create(LINE)
    # A crash between queued -> starting and starting -> running (engine.md §3).
    sql = "UPDATE runs SET status = 'starting' WHERE id = ?"
    await harness.db.write(lambda tx: tx.execute(sql, (record.id,)))
    starting = await harness.get_run(record.id)
    assembled = await assemble_run(harness.lifecycle, starting, harness.deps(), resume=True)
    assert assembled is not None and not assembled.claim.recovered
    assert "RunResumed" not in await harness.variants(record.id)
    assert (await assembled.run()).status == "completed"


async def test_a_run_no_longer_this_process_s_is_not_assembled(harness: Harness) -> None:
    cancelled = await harness.create(LINE)
    assert await harness.lifecycle.cancel(cancelled.id) is not None
    assert await assemble_run(harness.lifecycle, cancelled, harness.deps()) is None
    completed, result = await harness.run(LINE)
    assert result.status == "completed"
    assert await assemble_run(harness.lifecycle, completed, harness.deps(), resume=True) is None
