"""The recorder (fabro.engine.recorder): how the engine's writes are queued, merged, committed
and numbered, and what a failed write takes with it."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from typing import Any

import pytest

from fabro.engine.delta import StateDelta
from fabro.engine.recorder import CheckpointUpdate
from fabro.events.types import Prompt
from fabro.storage import events as event_rows
from fabro.storage import stages
from fabro.storage.stages import StageFinish, StageRecord
from fabro.storage.writer import WriteTx
from tests.engine.harness import Harness, TickingClock

WORKFLOW = """
digraph L {
  start [shape=Mdiamond]
  a [shape=tab, prompt="a"]
  b [shape=tab, prompt="b"]
  exit [shape=Msquare]
  start -> a -> b -> exit
}
"""


def _finish() -> StageFinish:
    return StageFinish("completed", "2026-01-01T00:00:00Z", 1, 1, {"status": "success"})


def _update(delta: StateDelta) -> CheckpointUpdate:
    return CheckpointUpdate(delta, None, None)


def _sections(checkpoint: dict[str, Any]) -> dict[str, Any]:
    return {key: checkpoint[key] for key in ("completed_nodes", "context_values")}


async def test_writes_queued_behind_a_failed_one_fail_with_it_then_writing_resumes(
    harness: Harness,
) -> None:
    """The per-stage commit is queued, so a later stage's writes may be queued behind a failing
    one: none of them is stored (no checkpoint delta over a base that never landed), the
    failure is raised once, the recorder asks for the next checkpoint whole, and the writes
    queued after that are stored.
    """
    record = await harness.create(WORKFLOW)
    engine = await harness.engine(record)
    recorder = engine.recorder
    assert recorder.wants_whole_checkpoint()  # nothing stored by it yet
    whole = StateDelta.whole({"completed_nodes": ["start"], "context_values": {"a": 1, "b": 1}})
    await recorder.stage_finished("start", _finish(), [], _update(whole), None)
    await recorder.settle()
    assert not recorder.wants_whole_checkpoint()
    first = _sections(await harness.checkpoint(record.id))
    assert first == {"completed_nodes": ["start"], "context_values": {"a": 1, "b": 1}}

    def boom(tx: WriteTx) -> None:
        raise sqlite3.IntegrityError("boom")

    # A failing write, then a stage commit whose delta (b only) is relative to it.
    await recorder.add_turn("start", "system", "text", None, (), boom)
    second = StateDelta.of(completed="a", context={"b": 2})
    await recorder.stage_finished(
        "a", _finish(), [Prompt(stage="a", text="lost")], _update(second), None
    )
    with pytest.raises(sqlite3.IntegrityError, match="boom"):
        await recorder.settle()
    assert _sections(await harness.checkpoint(record.id)) == first
    assert "Prompt" not in await harness.variants(record.id)
    assert recorder.wants_whole_checkpoint()  # what is stored is not known now

    third = StateDelta.whole(
        {"completed_nodes": ["start", "a"], "context_values": {"a": 3, "b": 2}}
    )
    await recorder.stage_finished(
        "a", _finish(), [Prompt(stage="a", text="kept")], _update(third), None
    )
    await recorder.settle()  # no failure left to raise
    assert _sections(await harness.checkpoint(record.id)) == {
        "completed_nodes": ["start", "a"],
        "context_values": {"a": 3, "b": 2},
    }
    assert [e["text"] for e in await harness.of(record.id, "Prompt")] == ["kept"]


async def test_a_failed_write_takes_none_of_the_writes_before_it_along(harness: Harness) -> None:
    # Queued in the same turn, both share one commit; the failure rolls the commit back and
    # each runs again alone: the first must then be stored (found by the test suite, where a
    # gate's failed question write took the stage commit queued before it along).
    record = await harness.create(WORKFLOW)
    engine = await harness.engine(record)
    recorder = engine.recorder

    def boom(tx: WriteTx) -> None:
        raise sqlite3.IntegrityError("boom")

    await recorder.emit(Prompt(stage="a", text="kept"))
    with pytest.raises(sqlite3.IntegrityError, match="boom"):
        await recorder.commit([Prompt(stage="a", text="lost")], boom)
    assert [e["text"] for e in await harness.of(record.id, "Prompt")] == ["kept"]


async def test_deltas_of_one_write_are_merged_in_order(harness: Harness) -> None:
    """Several stages in one database write: their deltas are stored as one, later sets of a
    key winning, appends in order, and a section replaced whole dropping what came before."""
    record = await harness.create(WORKFLOW)
    engine = await harness.engine(record)
    recorder = engine.recorder
    start = StateDelta.whole({"completed_nodes": ["start"], "context_values": {"k": 0}})
    await recorder.stage_finished("start", _finish(), [], _update(start), None)
    await recorder.settle()
    # One turn of the event loop: three stages, the second followed by a loop restart.
    a = StateDelta.of(completed="a", context={"k": 1, "a": "x"}, node_retries={"a": 1})
    restart = StateDelta.of(context={"fresh": True})
    restart.replaced = {"context_values", "completed_nodes"}
    b = StateDelta.of(completed="b", context={"k": 2}, node_retries={"b": 1})
    await recorder.stage_finished("a", _finish(), [], _update(a), None)
    await recorder.stage_finished("b", _finish(), [], _update(restart.then(b)), None)
    await recorder.settle()
    stored = await harness.checkpoint(record.id)
    assert stored["completed_nodes"] == ["b"]
    assert stored["context_values"] == {"fresh": True, "k": 2}
    assert stored["node_retries"] == {"a": 1, "b": 1}


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
    record = await harness.create(WORKFLOW)
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


async def test_a_stage_start_a_turn_and_a_stage_end_each_read_the_clock_once(
    harness: Harness,
) -> None:
    """Each write of a stage is stamped with one reading of the clock, taken where the time is
    first needed: its start's events carry the row's started_at, a turn's events the turn's
    created_at, its end's events and checkpoint the row's finished_at."""
    record = await harness.create(WORKFLOW)
    clock = TickingClock()
    engine = await harness.engine(record, deps=replace(harness.deps(), clock=clock))
    result = await engine.run()
    assert result.status == "completed"
    stamps: dict[tuple[str, str], set[str]] = {}
    for event in await event_rows.events_after(harness.db, record.id, 0):
        fields = next(iter(event.payload.values()))
        node = fields.get("node_id") or fields.get("stage") or fields.get("from_node")
        stamps.setdefault((event.variant, str(node)), set()).add(event.ts)
    for stage in await harness.stages(record.id):
        if stage.node_id not in ("a", "b"):
            continue
        system, assistant = await stages.list_turns(harness.db, record.id, stage.stage_id)
        node = stage.node_id
        assert stamps[("StageStarted", node)] == {stage.started_at}
        assert stamps[("Prompt", node)] == {system.created_at}
        assert stamps[("Agent", node)] == {system.created_at, assistant.created_at}
        for variant in ("StageCompleted", "EdgeSelected", "CheckpointSaved"):
            assert stamps[(variant, node)] == {stage.finished_at}, variant
    last = await harness.stage(record.id, "b")
    assert (await harness.checkpoint(record.id))["timestamp"] == last.finished_at
