"""The incremental checkpoint storage as the engine uses it: what is stored after every stage is
exactly the engine's checkpoint, and a run resumes from it after a crash (engine.md §5, §6)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from fabro.engine.outcome import Outcome
from fabro.engine.recorder import CheckpointUpdate, Recorder
from fabro.engine.runner import Engine
from fabro.engine.stage import StageRun
from fabro.events.redact import Redactor
from fabro.events.types import RunEvent
from fabro.storage.sqlite_store import SqliteStore
from fabro.storage.stages import StageFinish
from fabro.workflow.model import Node
from tests.engine.checkpoint_json import checkpoint_json
from tests.engine.harness import ByNode, Harness, hang


async def wait_for(predicate: Any, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


class CheckingRecorder(Recorder):
    """After each per-stage commit, reads the checkpoint back and compares it with the engine's
    state, key order too."""

    def __init__(self, engine: Engine, *args: Any) -> None:
        super().__init__(*args)
        self.engine = engine
        self.compared = 0

    async def stage_finished(
        self,
        stage_id: str,
        finish: StageFinish,
        events: Sequence[RunEvent],
        checkpoint: CheckpointUpdate | None,
        current_node: str | None,
    ) -> None:
        await super().stage_finished(stage_id, finish, events, checkpoint, current_node)
        if checkpoint is None:
            return
        expected = checkpoint_json(self.engine.state, "")
        await self.settle()  # the per-stage commit is queued, not waited for
        record = await self.store.get_checkpoint(self.run_id)
        assert record is not None
        stored = {**record.data, "timestamp": ""}
        assert json.dumps(stored) == json.dumps(expected), stage_id
        self.compared += 1


LOOPS = """
digraph L {
  graph [goal="check"]
  start [shape=Mdiamond]
  a [shape=tab, prompt="a"]
  b [shape=tab, prompt="b"]
  c [shape=tab, prompt="c"]
  exit [shape=Msquare]
  start -> a -> b
  b -> c [condition="internal.node_visit_count=3"]
  b -> a [condition="internal.node_visit_count=1"]
  b -> a [loop_restart=true]
  c -> exit
}
"""


async def test_the_stored_checkpoint_is_the_engines_after_every_stage(harness: Harness) -> None:
    async def work(node: Node, stage: StageRun) -> Outcome:
        visits = int(stage.context.get("internal.node_visit_count", 0))
        results = [{"id": node.id, "visit": visits, "ok": visits % 2 == 0}]
        return Outcome.success(
            context_updates={
                f"seen.{node.id}": visits,
                "flag": visits % 2 == 0,  # flips between true and false
                "parallel.results": results,
                f"response.{node.id}": f"visit {visits}",
            }
        )

    record = await harness.create(LOOPS)
    engine = await harness.engine(record, handlers=ByNode(a=work, b=work, c=work).handlers)
    checking = CheckingRecorder(
        engine, SqliteStore(harness.db), record.id, harness.published.append, Redactor()
    )
    engine.recorder = checking
    engine.watchdog.recorder = checking
    result = await engine.run()
    assert result.status == "completed", result.error
    starts = [e["node_id"] for e in await harness.of(record.id, "StageStarted")]
    assert starts == ["start", "a", "b", "a", "b", "a", "b", "c", "exit"]
    assert "LoopRestart" in await harness.variants(record.id)
    assert checking.compared == 8
    final = await harness.checkpoint(record.id)
    assert final["completed_nodes"] == ["a", "b", "c"]  # since the loop restart
    assert final["context_values"]["flag"] is False


async def test_a_crash_after_a_loop_restart_resumes_without_rerunning_stages(
    harness: Harness,
) -> None:
    record = await harness.create(LOOPS)
    crashing = ByNode(c=hang)
    engine = await harness.engine(record, handlers=crashing.handlers)
    task = asyncio.create_task(engine.run())
    await wait_for(lambda: "c" in crashing.calls)
    task.cancel()  # a crash in c: the run stays `running`
    try:
        await task
    except asyncio.CancelledError:
        pass
    checkpoint = await harness.checkpoint(record.id)
    assert checkpoint["next_node_id"] == "c"
    assert checkpoint["completed_nodes"] == ["a", "b"]
    assert checkpoint["node_visits"] == {"start": 1, "a": 3, "b": 3}

    resumed = ByNode()
    result = await (await harness.resume(record, handlers=resumed.handlers)).run()
    assert result.status == "completed", result.error
    assert resumed.calls == ["c"]  # nothing before c runs again
    final = await harness.checkpoint(record.id)
    assert final["completed_nodes"] == ["a", "b", "c"]
    assert final["node_visits"]["c"] == 1  # the interrupted visit was never recorded
    assert final["context_values"]["last_stage"] == "c"
