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
from tests.engine.checkpoint_json import checkpoint_json
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


async def log_rows(db: Database) -> list[str]:
    rows = await db.fetchall("SELECT changes FROM checkpoint_log WHERE run_id = 'R1' ORDER BY seq")
    return [row[0] for row in rows]


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
    assert as_json(await stored(db)) == as_json(checkpoint_json(state, "t0"))


async def test_a_delta_is_one_log_row_of_its_changes_and_a_set_key_keeps_its_place(
    db: Database,
) -> None:
    state = engine_like()
    await save(db, state, StateDelta.whole(state.sections()))
    assert await log_rows(db) == []  # a whole checkpoint is a new base
    delta = StateDelta.of(
        completed="build",
        context={"outcome": "fail", "new": [1, {"x": None}]},
        node_retries={"build": 2},
    )
    await save(db, state, delta, "t1")
    [row] = await log_rows(db)
    assert "graph.goal" not in row and "start" not in row  # nothing of the earlier stages
    data = await stored(db)
    assert list(data["context_values"]) == ["graph.goal", "outcome", "n", "new"]
    assert as_json(data) == as_json(checkpoint_json(state, "t1"))


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
    assert as_json(data) == as_json(checkpoint_json(state, "t1"))


async def test_whole_documents_are_read_as_they_are_and_can_be_replaced(db: Database) -> None:
    legacy = {"timestamp": "t", "completed_nodes": ["a"], "context_values": {"k": "v"}}
    await db.write(lambda tx: runs.save_checkpoint(tx, "R1", legacy, "t1"))  # schema v1 form
    assert await stored(db) == legacy
    # A run resumed after the upgrade: its engine's first write is whole.
    state = EngineState.from_checkpoint(legacy)
    await save(db, state, StateDelta.whole(state.sections()), "t2")
    assert as_json(await stored(db)) == as_json(checkpoint_json(state, "t2"))
    await save(db, state, StateDelta.of(completed="b"), "t3")  # a log over the base
    assert (await stored(db))["completed_nodes"] == ["a", "b"]
    await db.write(lambda tx: runs.save_checkpoint(tx, "R1", legacy, "t4"))
    assert await stored(db) == legacy  # and back: the log rows are gone
    assert await log_rows(db) == []


async def test_a_checkpoint_of_schema_version_2_is_read_and_folded_by_the_next_write(
    db: Database,
) -> None:
    head = {"timestamp": "t", "current_node": "a", "completed_nodes": [], "node_retries": {}}
    head |= {"context_values": {}, "logs": [], "node_outcomes": {}, "next_node_id": "b"}

    def version_2(tx: Any) -> None:
        tx.execute(
            "INSERT INTO checkpoints (run_id, data, updated_at, incremental)"
            " VALUES ('R1', ?, 't', 1)",
            [json.dumps(head)],
        )
        for section, pos, key, value in (
            ("completed_nodes", 0, None, '"a"'),
            ("context_values", 0, "k", '"v"'),
            ("context_values", 1, "n", "1"),
            ("node_outcomes", 0, "a", '{"status":"success"}'),
        ):
            tx.execute(
                "INSERT INTO checkpoint_entries (run_id, section, pos, key, value)"
                " VALUES ('R1', ?, ?, ?, ?)",
                [section, pos, key, value],
            )

    await db.write(version_2)
    expected = {**head, "completed_nodes": ["a"], "context_values": {"k": "v", "n": 1}}
    expected["node_outcomes"] = {"a": {"status": "success"}}
    assert await stored(db) == expected
    state = EngineState.from_checkpoint(expected)
    state.current_node, state.next_node_id = "a", "b"
    await save(db, state, StateDelta.of(context={"n": 2}), "t1")
    assert as_json(await stored(db)) == as_json(checkpoint_json(state, "t1"))
    row = await db.fetchone("SELECT COUNT(*) FROM checkpoint_entries WHERE run_id = 'R1'")
    assert row is not None and row[0] == 0  # folded into a base


async def test_the_log_is_folded_into_a_new_base_once_it_outgrows_it(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoints, "FOLD_AT_LEAST", 0)
    state = engine_like()
    await save(db, state, StateDelta.whole(state.sections()))
    longest = 0
    for step in range(200):
        await save(db, state, StateDelta.of(context={f"k{step % 7}": "x" * 40}), f"t{step}")
        longest = max(longest, len(await log_rows(db)))
    assert 1 < longest < 20  # folded again and again, never long
    assert as_json(await stored(db)) == as_json(checkpoint_json(state, "t199"))


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
        assert as_json(await stored(db)) == as_json(checkpoint_json(state, ts)), step


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
