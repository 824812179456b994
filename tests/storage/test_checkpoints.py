"""Incremental checkpoints: state deltas stored as rows, read back as the checkpoint JSON."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from fabro.engine.delta import StateDelta
from fabro.engine.state import EngineState
from fabro.storage import checkpoints, runs
from fabro.storage.db import Database
from tests.storage.rows import make_run


@pytest.fixture
async def db(db: Database) -> Database:
    """The database of conftest.py, holding run R1."""
    await db.write(lambda tx: runs.insert_run(tx, make_run("R1")))
    return db


async def save(db: Database, state: EngineState, delta: StateDelta, ts: str = "t") -> None:
    """Apply ``delta`` to ``state`` (as the engine does) and store it."""
    state.apply(delta)
    await db.write(
        lambda tx: checkpoints.save(tx, "R1", delta, ts, state.current_node, state.next_node_id)
    )


async def stored(db: Database) -> dict[str, Any]:
    record = await runs.get_checkpoint(db, "R1")
    assert record is not None
    return record.data


def as_json(value: Any) -> str:
    """The JSON text, key order included (dict equality would ignore the order)."""
    return json.dumps(value)


async def entry_rows(db: Database) -> int:
    row = await db.fetchone("SELECT COUNT(*) FROM checkpoint_entries WHERE run_id = 'R1'")
    assert row is not None
    return int(row[0])


def engine_like() -> EngineState:
    state = EngineState()
    state.apply(
        StateDelta.whole(
            {
                "completed_nodes": ["start", "plan"],
                "node_retries": {"start": 1, "plan": 1},
                "context_values": {"graph.goal": "g", "outcome": "success", "n": 1},
                "node_outcomes": {"plan": {"status": "success"}},
            }
        )
    )
    state.current_node = "plan"
    state.next_node_id = "build"
    return state


async def test_round_trip_keeps_values_and_key_order(db: Database) -> None:
    state = engine_like()
    await save(db, state, StateDelta.whole(state.sections()), "t0")
    assert as_json(await stored(db)) == as_json(state.checkpoint("t0"))


async def test_a_delta_writes_its_rows_only_and_a_set_key_keeps_its_place(db: Database) -> None:
    state = engine_like()
    await save(db, state, StateDelta.whole(state.sections()))
    before = await entry_rows(db)
    delta = StateDelta.of(
        completed="build",
        context={"outcome": "fail", "new": [1, {"x": None}]},
        node_retries={"build": 2},
    )
    await save(db, state, delta, "t1")
    assert await entry_rows(db) == before + 3  # build twice, "new"; "outcome" replaced
    data = await stored(db)
    assert list(data["context_values"]) == ["graph.goal", "outcome", "n", "new"]
    assert as_json(data) == as_json(state.checkpoint("t1"))


async def test_a_replaced_section_drops_its_old_rows(db: Database) -> None:
    state = engine_like()
    await save(db, state, StateDelta.whole(state.sections()))
    restart = StateDelta.of(context={"graph.goal": "g"})
    restart.replaced = {"context_values", "completed_nodes", "node_outcomes", "logs"}
    await save(db, state, restart, "t1")
    data = await stored(db)
    assert data["context_values"] == {"graph.goal": "g"}
    assert data["completed_nodes"] == []
    assert "node_outcomes" not in data  # optional sections are left out while empty
    assert data["node_retries"] == {"start": 1, "plan": 1}  # not replaced
    assert as_json(data) == as_json(state.checkpoint("t1"))


async def test_whole_documents_are_read_as_they_are_and_can_be_replaced(db: Database) -> None:
    legacy = {"timestamp": "t", "completed_nodes": ["a"], "context_values": {"k": "v"}}
    await db.write(lambda tx: runs.save_checkpoint(tx, "R1", legacy, "t1"))  # schema v1 form
    assert await stored(db) == legacy
    # A run resumed after the upgrade: its engine's first write is whole.
    state = EngineState.from_checkpoint(legacy)
    await save(db, state, StateDelta.whole(state.sections()), "t2")
    assert as_json(await stored(db)) == as_json(state.checkpoint("t2"))
    await db.write(lambda tx: runs.save_checkpoint(tx, "R1", legacy, "t3"))
    assert await stored(db) == legacy  # and back: the entry rows are gone
    assert await entry_rows(db) == 0


async def test_no_checkpoint_before_the_first(db: Database) -> None:
    assert await runs.get_checkpoint(db, "R1") is None


async def test_random_deltas_always_round_trip(db: Database) -> None:
    """Random engine-like deltas, merged into writes of one to four: what is read back is
    always the state's checkpoint, key order included."""
    rng = random.Random(11)
    values: list[Any] = ["s", "", 0, 1, True, False, 1.0, None, [1, "a"], {"k": [True]}, "ü"]
    state = EngineState()
    await save(db, state, StateDelta.whole({"context_values": {"graph.goal": "g"}}))
    for step in range(300):
        write = StateDelta()
        for _ in range(rng.randint(1, 4)):
            key = f"k{rng.randint(0, 30)}"
            action = rng.random()
            if action < 0.6:
                delta = StateDelta.of(context={key: rng.choice(values)})
            elif action < 0.85:
                delta = StateDelta.of(
                    completed=key,
                    node_outcomes={key: {"status": rng.choice(["success", "fail"])}},
                    node_retries={key: rng.randint(1, 3)},
                    logs=[f"line {step}"] if rng.random() < 0.3 else [],
                )
            elif action < 0.9:  # a loop restart
                delta = StateDelta.of(context={"graph.goal": "g"})
                delta.replaced = {"context_values", "completed_nodes", "node_outcomes", "logs"}
            else:
                delta = StateDelta.of(node_visits={key: rng.randint(1, 9)})
            state.apply(delta)
            write.then(delta)
        state.current_node = f"k{rng.randint(0, 30)}"
        state.next_node_id = rng.choice([None, f"k{rng.randint(0, 30)}"])
        ts = f"t{step}"
        await db.write(
            lambda tx, w=write, ts=ts: checkpoints.save(
                tx, "R1", w, ts, state.current_node, state.next_node_id
            )
        )
        assert as_json(await stored(db)) == as_json(state.checkpoint(ts)), step


async def test_load_reads_head_and_entries_in_one_statement(db: Database) -> None:
    """A checkpoint written between the head and the entries cannot be torn: one SELECT."""
    calls: list[str] = []
    original = db.fetchall

    async def spy(sql: str, params: Any = ()) -> Any:
        calls.append(sql)
        return await original(sql, params)

    state = engine_like()
    await save(db, state, StateDelta.whole(state.sections()))
    db.fetchall = spy  # type: ignore[method-assign]
    await runs.get_checkpoint(db, "R1")
    assert len(calls) == 1
