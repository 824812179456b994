"""The incremental checkpoint storage as the engine uses it: what is stored after every stage is
exactly the engine's checkpoint, and a run resumes from it after a crash (engine.md §5, §6)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from fabro.engine.outcome import Outcome
from fabro.engine.recorder import CheckpointLost, Recorder
from fabro.engine.stage import StageRun
from fabro.events.redact import Redactor
from fabro.events.types import Prompt, RunEvent
from fabro.storage import runs, stages
from fabro.storage.db import WriteTx
from fabro.storage.stages import StageFinish, StageRecord
from fabro.storage.tracked import TrackedDict
from fabro.workflow.model import Node
from tests.engine.harness import ByNode, Harness, hang


async def wait_for(predicate: Any, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


class CheckingRecorder(Recorder):
    """After each per-stage commit, reads the checkpoint back and compares it, key order too."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.compared = 0

    async def stage_finished(
        self,
        stage_id: str,
        finish: StageFinish,
        events: Sequence[RunEvent],
        checkpoint: dict[str, Any] | None,
        current_node: str | None,
    ) -> None:
        await super().stage_finished(stage_id, finish, events, checkpoint, current_node)
        if checkpoint is None:
            return
        await self.settle()  # the per-stage commit is queued, not waited for
        record = await runs.get_checkpoint(self.db, self.run_id)
        assert record is not None
        assert json.dumps(record.data) == json.dumps(checkpoint), stage_id
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
    checking = CheckingRecorder(harness.db, record.id, harness.published.append, Redactor())
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


def _finish() -> StageFinish:
    return StageFinish("completed", "2026-01-01T00:00:00Z", 1, 1, {"status": "success"})


async def test_writes_queued_behind_a_failed_one_fail_with_it_then_writing_resumes(
    harness: Harness,
) -> None:
    """The per-stage commit is queued, so a later stage's writes may be queued behind a failing
    one: none of them is stored (no checkpoint delta over a base that never landed), the
    failure is raised once, and the writes queued after that are stored, the checkpoint whole.
    """
    record = await harness.create(LOOPS)
    engine = await harness.engine(record)
    recorder = engine.recorder
    first = {"completed_nodes": ["start"], "context_values": {"a": 1, "b": 1}}
    await recorder.stage_finished("start", _finish(), [], first, None)
    await recorder.settle()

    def boom(tx: WriteTx) -> None:
        raise sqlite3.IntegrityError("boom")

    # A failing write, then a stage commit whose delta (b only) is relative to it.
    await recorder.add_turn("start", "system", "text", None, also=boom)
    second = {"completed_nodes": ["start", "a"], "context_values": {"a": 1, "b": 2}}
    await recorder.stage_finished("a", _finish(), [Prompt(stage="a", text="lost")], second, None)
    with pytest.raises(sqlite3.IntegrityError, match="boom"):
        await recorder.settle()
    assert await harness.checkpoint(record.id) == first
    assert "Prompt" not in await harness.variants(record.id)

    third = {"completed_nodes": ["start", "a"], "context_values": {"a": 3, "b": 2}}
    await recorder.stage_finished("a", _finish(), [Prompt(stage="a", text="kept")], third, None)
    await recorder.settle()  # no failure left to raise
    assert await harness.checkpoint(record.id) == third  # written whole, b included
    assert [e["text"] for e in await harness.of(record.id, "Prompt")] == ["kept"]


async def test_a_failed_write_takes_none_of_the_writes_before_it_along(harness: Harness) -> None:
    # Queued in the same turn, both share one commit; the failure rolls the commit back and
    # each runs again alone: the first must then be stored (found by the test suite, where a
    # gate's failed question write took the stage commit queued before it along).
    record = await harness.create(LOOPS)
    engine = await harness.engine(record)
    recorder = engine.recorder

    def boom(tx: WriteTx) -> None:
        raise sqlite3.IntegrityError("boom")

    await recorder.emit(Prompt(stage="a", text="kept"))
    with pytest.raises(sqlite3.IntegrityError, match="boom"):
        await recorder.commit([Prompt(stage="a", text="lost")], boom)
    assert [e["text"] for e in await harness.of(record.id, "Prompt")] == ["kept"]


async def test_stages_whose_checkpoint_was_lost_to_a_failure_are_not_stored(
    harness: Harness,
) -> None:
    """A failed write resets the checkpoint writer; a stage captured relative to what it had
    stored before cannot be written with its checkpoint, so its write fails as a whole (never
    a stage stored without its checkpoint), and the next checkpoint is written whole."""
    record = await harness.create(LOOPS)
    engine = await harness.engine(record)
    recorder = engine.recorder
    first = {"completed_nodes": ["start"], "context_values": TrackedDict({"a": 1})}
    await recorder.stage_finished("start", _finish(), [], first, None)
    await recorder.settle()
    second = {"completed_nodes": ["start", "a"], "context_values": first["context_values"]}
    second["context_values"]["a"] = 2
    await recorder.stage_finished("a", _finish(), [Prompt(stage="a", text="lost")], second, None)
    recorder._checkpoints.reset()  # as a failed write's does, before this batch is handed over
    with pytest.raises(CheckpointLost):
        await recorder.settle()
    assert await harness.checkpoint(record.id) == {
        "completed_nodes": ["start"],
        "context_values": {"a": 1},
    }
    assert "Prompt" not in await harness.variants(record.id)

    await recorder.stage_finished("a", _finish(), [Prompt(stage="a", text="kept")], second, None)
    await recorder.settle()
    assert await harness.checkpoint(record.id) == {
        "completed_nodes": ["start", "a"],
        "context_values": {"a": 2},
    }
    assert [e["text"] for e in await harness.of(record.id, "Prompt")] == ["kept"]


def _stage(stage_id: str, started_at: str) -> StageRecord:
    return StageRecord(
        run_id="",
        stage_id=stage_id,
        node_id="a",
        name="a",
        visit=1,
        stage_index=0,
        status="running",
        started_at=started_at,
    )


async def test_turns_are_numbered_by_the_recorder_and_a_stage_run_again_keeps_its_last_turns(
    harness: Harness,
) -> None:
    record = await harness.create(LOOPS)
    engine = await harness.engine(record)
    recorder = engine.recorder
    # All in one turn of the event loop (one write): a stage, then the same stage again, as
    # after a recovery, whose start deletes the turns of the first.
    for started, texts in (("t1", ["p1", "r1"]), ("t2", ["p2", "r2", "tool"])):
        stage = replace(_stage("a", started), run_id=record.id)
        await recorder.stage_started(stage, None)
        for text in texts:
            await recorder.add_turn("a", "system", text, None)
        await recorder.stage_finished("a", _finish(), [], None, None)
    await recorder.settle()
    turns = await stages.list_turns(harness.db, record.id, "a")
    assert [(t.n, t.content) for t in turns] == [(1, "p2"), (2, "r2"), (3, "tool")]
