"""Incremental checkpoints: the change log of TrackedDict, the writer's deltas, load round trips."""

from __future__ import annotations

import copy
import json
import pickle
import random
from typing import Any

import pytest

from fabro.storage import checkpoints, runs
from fabro.storage.checkpoints import CheckpointWriter
from fabro.storage.db import Database
from fabro.storage.tracked import TrackedDict, TrackedList
from tests.storage.test_db import make_run


@pytest.fixture
async def db(db: Database) -> Database:
    """The database of conftest.py, holding run R1."""
    await db.write(lambda tx: runs.insert_run(tx, make_run("R1")))
    return db


async def save(db: Database, writer: CheckpointWriter, checkpoint: dict[str, Any]) -> int:
    """Diff and store ``checkpoint``; returns the number of entry rows written."""
    delta = writer.diff(checkpoint)
    await db.write(lambda tx: checkpoints.save(tx, "R1", delta, "t"))
    return len(delta.entries)


async def stored(db: Database) -> dict[str, Any]:
    record = await runs.get_checkpoint(db, "R1")
    assert record is not None
    return record.data


def as_json(value: Any) -> str:
    """The JSON text, key order included (dict equality would ignore the order)."""
    return json.dumps(value)


# ---- TrackedDict -------------------------------------------------------------------------------


def test_tracked_dict_logs_the_keys_set_since_the_last_take() -> None:
    tracked = TrackedDict({"a": 1})
    assert tracked.take_changes() is None  # nothing known before the first take
    tracked["b"] = 2
    tracked.update({"c": 3}, d=4)
    tracked.setdefault("e", 5)
    tracked.setdefault("a", 9)  # present: not set
    tracked |= {"f": 6}
    tracked["b"] = 7  # set again: keeps its place, the order the keys were added
    assert list(tracked.take_changes() or ()) == ["b", "c", "d", "e", "f"]
    assert tracked.take_changes() == {}
    marker = object()
    tracked["g"] = marker
    tracked.take_changes()
    tracked["g"] = marker  # the same object again changes nothing
    assert tracked.take_changes() == {}


def test_tracked_list_knows_when_it_only_grew() -> None:
    tracked = TrackedList(["a"])
    assert tracked.take_changes() is None  # nothing known before the first take
    tracked.append("b")
    tracked.extend(["c"])
    tracked += ["d"]
    assert tracked.take_changes() == 1  # grew from 1 item: the new ones are tracked[1:]
    assert tracked.take_changes() == 4
    assert pickle.loads(pickle.dumps(tracked)) == tracked
    assert type(copy.deepcopy(tracked)) is TrackedList


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.__setitem__(0, "x"),
        lambda t: t.__delitem__(0),
        lambda t: t.insert(0, "x"),
        lambda t: t.pop(),
        lambda t: t.remove("a"),
        lambda t: t.clear(),
        lambda t: t.sort(),
        lambda t: t.reverse(),
        lambda t: t.__imul__(2),
    ],
)
def test_a_tracked_list_changed_otherwise_is_unknown(change: Any) -> None:
    tracked = TrackedList(["b", "a"])
    tracked.take_changes()
    change(tracked)
    assert tracked.take_changes() is None
    assert tracked.take_changes() == len(tracked)


@pytest.mark.parametrize(
    "remove",
    [
        lambda d: d.pop("a"),
        lambda d: d.__delitem__("a"),
        lambda d: d.popitem(),
        lambda d: d.clear(),
    ],
)
def test_removing_a_key_makes_the_changes_unknown(remove: Any) -> None:
    tracked = TrackedDict({"a": 1, "b": 2})
    tracked.take_changes()
    remove(tracked)
    assert tracked.take_changes() is None
    assert tracked.take_changes() == {}


def test_tracked_dict_copies_and_pickles_as_a_tracked_dict() -> None:
    tracked = TrackedDict({"a": [1], "b": 2})
    for twin in (copy.deepcopy(tracked), pickle.loads(pickle.dumps(tracked)), copy.copy(tracked)):
        assert isinstance(twin, TrackedDict) and twin == tracked
        twin["c"] = 3
        assert "c" not in tracked
    assert json.dumps(tracked) == '{"a": [1], "b": 2}'


# ---- the writer ---------------------------------------------------------------------------------


def engine_like() -> dict[str, Any]:
    """A checkpoint shaped like EngineState.checkpoint(): sections are the live containers."""
    return {
        "timestamp": "t0",
        "current_node": "",
        "completed_nodes": TrackedList(),
        "node_retries": TrackedDict(),
        "context_values": TrackedDict({"graph.goal": "g", "internal.run_id": "R1"}),
        "logs": [],
    }


async def test_round_trip_keeps_values_and_key_order(db: Database) -> None:
    writer = CheckpointWriter(immutable_sections=("node_outcomes",))
    checkpoint = engine_like()
    await save(db, writer, checkpoint)
    assert as_json(await stored(db)) == as_json(checkpoint)
    checkpoint["completed_nodes"].append("start")
    checkpoint["node_outcomes"] = TrackedDict({"start": {"status": "success", "duration_ms": 0}})
    checkpoint["context_values"]["outcome"] = "success"
    checkpoint["context_values"]['ünïcode "key"'] = {"nested": ["a", 1, None, True, 2.5]}
    checkpoint["next_node_id"] = "work"
    await save(db, writer, checkpoint)
    assert as_json(await stored(db)) == as_json(checkpoint)


async def test_only_changed_entries_are_written(db: Database) -> None:
    writer = CheckpointWriter(immutable_sections=("node_outcomes",))
    checkpoint = engine_like()
    checkpoint["node_outcomes"] = TrackedDict()
    context = checkpoint["context_values"]
    for n in range(50):
        context[f"response.s{n}"] = f"text {n}"
        checkpoint["completed_nodes"].append(f"s{n}")
        checkpoint["node_outcomes"][f"s{n}"] = {"status": "success"}
    assert await save(db, writer, checkpoint) == 2 + 50 * 3  # the first save writes everything
    context["last_stage"] = "s50"
    context["response.s3"] = "text " + "3"  # a new string equal to the stored one
    context["response.s4"] = "changed"
    checkpoint["completed_nodes"].append("s50")
    assert await save(db, writer, checkpoint) == 3  # last_stage, response.s4, completed s50
    assert as_json(await stored(db)) == as_json(checkpoint)
    assert await save(db, writer, checkpoint) == 0


async def test_values_changed_in_place_and_type_changes_are_caught(db: Database) -> None:
    writer = CheckpointWriter()
    checkpoint = engine_like()
    context = checkpoint["context_values"]
    context["parallel.results"] = [{"id": "a", "status": "success"}]
    context["flag"] = 1
    await save(db, writer, checkpoint)
    context["parallel.results"].append({"id": "b", "status": "fail"})  # no __setitem__
    context["flag"] = True  # equal to 1, but not the same JSON
    context["count"] = 1.0
    await save(db, writer, checkpoint)
    data = await stored(db)
    assert data["context_values"]["parallel.results"][1] == {"id": "b", "status": "fail"}
    assert data["context_values"]["flag"] is True
    assert as_json(data) == as_json(checkpoint)
    # A plain dict has no log: every entry is compared, and 0 -> False is still a change.
    plain: dict[str, Any] = {"timestamp": "t", "m": {"a": 0, "b": [1]}}
    await save(db, writer, plain)
    plain["m"]["a"] = False
    plain["m"]["b"].append(2)
    await save(db, writer, plain)
    assert as_json(await stored(db)) == as_json(plain)


async def test_loop_restart_and_removed_keys_rewrite_sections(db: Database) -> None:
    writer = CheckpointWriter(immutable_sections=("node_outcomes",))
    checkpoint = engine_like()
    checkpoint["completed_nodes"] += ["a", "b", "c"]
    checkpoint["node_outcomes"] = TrackedDict({"a": {"status": "success"}})
    checkpoint["context_values"]["x"] = 1
    await save(db, writer, checkpoint)
    # A loop restart: new containers, fewer entries; an optional section disappears.
    checkpoint["completed_nodes"] = ["a"]
    del checkpoint["node_outcomes"]
    checkpoint["context_values"] = TrackedDict({"graph.goal": "g", "y": 2})
    await save(db, writer, checkpoint)
    assert as_json(await stored(db)) == as_json(checkpoint)
    checkpoint["context_values"].pop("y")
    checkpoint["context_values"]["y"] = 3  # removed and set again: now last
    checkpoint["completed_nodes"][0] = "z"  # a list changed in place
    await save(db, writer, checkpoint)
    assert as_json(await stored(db)) == as_json(checkpoint)


async def test_plain_containers_work_too(db: Database) -> None:
    writer = CheckpointWriter()
    checkpoint: dict[str, Any] = {"timestamp": "t", "m": {"a": 1}, "l": ("x",)}
    await save(db, writer, checkpoint)
    checkpoint["m"]["b"] = 2
    checkpoint["l"] = ("x", "y")
    assert await save(db, writer, checkpoint) == 2
    assert await stored(db) == {"timestamp": "t", "m": {"a": 1, "b": 2}, "l": ["x", "y"]}


async def test_reset_makes_the_next_delta_a_full_rewrite(db: Database) -> None:
    writer = CheckpointWriter()
    checkpoint = engine_like()
    checkpoint["context_values"]["a"] = 1
    await save(db, writer, checkpoint)
    checkpoint["context_values"]["a"] = 2
    lost = writer.diff(checkpoint)  # never stored (the transaction failed, say)
    assert lost.entries
    writer.reset()
    checkpoint["context_values"]["b"] = 3
    await save(db, writer, checkpoint)
    assert as_json(await stored(db)) == as_json(checkpoint)


async def test_whole_documents_are_read_as_they_are_and_can_be_replaced(db: Database) -> None:
    legacy = {"timestamp": "t", "completed_nodes": ["a"], "context_values": {"k": "v"}}
    await db.write(lambda tx: runs.save_checkpoint(tx, "R1", legacy, "t1"))  # schema v1 form
    assert await stored(db) == legacy
    writer = CheckpointWriter()  # a run resumed after the upgrade: a full incremental write
    checkpoint = engine_like()
    await save(db, writer, checkpoint)
    assert as_json(await stored(db)) == as_json(checkpoint)
    await db.write(lambda tx: runs.save_checkpoint(tx, "R1", legacy, "t2"))
    assert await stored(db) == legacy  # and back: the entry rows are gone
    row = await db.fetchone("SELECT COUNT(*) FROM checkpoint_entries WHERE run_id = 'R1'")
    assert row is not None and row[0] == 0


async def test_no_checkpoint_before_the_first(db: Database) -> None:
    assert await runs.get_checkpoint(db, "R1") is None


async def test_random_edits_always_round_trip(db: Database) -> None:
    """Random engine-like edits, each followed by a save: what is read back is the checkpoint."""
    rng = random.Random(11)
    writer = CheckpointWriter(immutable_sections=("node_outcomes",))
    checkpoint = engine_like()
    checkpoint["node_outcomes"] = TrackedDict()
    values: list[Any] = ["s", "", 0, 1, True, False, 1.0, None, [1, "a"], {"k": [True]}, "ü"]
    for step in range(300):
        context = checkpoint["context_values"]
        for _ in range(rng.randint(0, 4)):
            action = rng.random()
            key = f"k{rng.randint(0, 30)}"
            if action < 0.6:
                context[key] = copy.deepcopy(rng.choice(values))
            elif action < 0.7:
                context.pop(key, None)
            elif action < 0.8 and isinstance(context.get(key), list):
                context[key].append(step)  # in place
            elif action < 0.9:
                checkpoint["completed_nodes"].append(key)
                checkpoint["node_outcomes"][key] = {"status": rng.choice(["success", "fail"])}
                checkpoint["node_retries"][key] = rng.randint(1, 3)
            elif action < 0.93:  # a loop restart
                checkpoint["completed_nodes"] = []
                checkpoint["node_outcomes"] = TrackedDict()
                checkpoint["context_values"] = TrackedDict({"graph.goal": "g"})
            elif action < 0.96:
                checkpoint["next_node_id"] = key
            else:
                checkpoint.pop("next_node_id", None)
        checkpoint["timestamp"] = f"t{step}"
        if rng.random() < 0.05:
            writer.reset()
        await save(db, writer, checkpoint)
        assert as_json(await stored(db)) == as_json(checkpoint), step


async def test_load_reads_head_and_entries_in_one_statement(db: Database) -> None:
    """A checkpoint written between the head and the entries cannot be torn: one SELECT."""
    calls: list[str] = []
    original = db.fetchall

    async def spy(sql: str, params: Any = ()) -> Any:
        calls.append(sql)
        return await original(sql, params)

    writer = CheckpointWriter()
    await save(db, writer, engine_like())
    db.fetchall = spy  # type: ignore[method-assign]
    await runs.get_checkpoint(db, "R1")
    assert len(calls) == 1


async def test_a_replaced_map_is_compared_exactly_after_tracked_updates(db: Database) -> None:
    """Values a tracked map gained are known to the writer when the map is later replaced."""
    writer = CheckpointWriter()
    checkpoint: dict[str, Any] = {"timestamp": "t", "m": TrackedDict({"a": "x"})}
    await save(db, writer, checkpoint)
    checkpoint["m"]["b"] = 1  # tracked: a number joins the strings
    await save(db, writer, checkpoint)
    checkpoint["m"] = {"a": "x", "b": True}  # another map, same keys: 1 -> true
    await save(db, writer, checkpoint)
    assert as_json(await stored(db)) == as_json(checkpoint)


def random_edits(checkpoint: dict[str, Any], rng: random.Random, step: int) -> None:
    """A few engine-like edits: keys set and removed, values changed in place, stages
    recorded, loop restarts."""
    values: list[Any] = ["s", "", 0, 1, True, 1.0, None, [1, "a"], {"k": [True]}]
    for _ in range(rng.randint(0, 4)):
        context = checkpoint["context_values"]
        action = rng.random()
        key = f"k{rng.randint(0, 12)}"
        if action < 0.45:
            context[key] = copy.deepcopy(rng.choice(values))
        elif action < 0.55:
            context.pop(key, None)
        elif action < 0.65:
            if isinstance(context.get(key), list):
                context[key].append(step)  # in place
        elif action < 0.85:
            checkpoint["completed_nodes"].append(key)
            checkpoint["node_outcomes"][f"{key}-{step}"] = {"status": "success"}
        elif action < 0.88:  # changed in place, not only grown
            nodes = checkpoint["completed_nodes"]
            if nodes and rng.random() < 0.5:
                nodes.pop()
            else:
                nodes.insert(0, key)
        elif action < 0.92:  # a loop restart: lists shrink (truncated), maps are replaced
            checkpoint["completed_nodes"] = TrackedList(checkpoint["completed_nodes"][:1])
            checkpoint["node_outcomes"] = TrackedDict()
        elif action < 0.96:
            checkpoint["context_values"] = TrackedDict({"graph.goal": "g", key: [step]})
        else:
            checkpoint["next_node_id"] = key


async def test_a_delta_stores_the_last_checkpoint_captured(db: Database) -> None:
    """The engine captures the checkpoint after every stage and makes one delta for all the
    stages of one write, once the state has moved on: random edits, captured in random runs,
    edited again before each delta, always read back as last captured."""
    rng = random.Random(5)
    writer = CheckpointWriter(immutable_sections=("node_outcomes",))
    checkpoint = engine_like()
    checkpoint["node_outcomes"] = TrackedDict()
    captured: str | None = None
    saved = 0
    for step in range(600):
        random_edits(checkpoint, rng, step)
        checkpoint["timestamp"] = f"t{step}"
        if rng.random() < 0.7:
            writer.capture(checkpoint)
            captured = as_json(checkpoint)
        if rng.random() < 0.03:
            writer.reset()  # a write failed: what was captured since is dropped, or kept whole
        if rng.random() < 0.3:
            random_edits(checkpoint, rng, step)  # the next stage has begun
            delta = writer.delta()
            if delta is None:
                continue  # nothing captured since the last delta (or dropped by the reset)
            await db.write(lambda tx, delta=delta: checkpoints.save(tx, "R1", delta, "t"))
            saved += 1
            assert as_json(await stored(db)) == captured, step
    assert saved > 100


async def test_a_capture_is_not_changed_by_later_edits(db: Database) -> None:
    writer = CheckpointWriter()
    checkpoint = engine_like()
    context = checkpoint["context_values"]
    context["results"] = [1]
    await save(db, writer, checkpoint)
    context["results"].append(2)  # in place, then captured
    context["last"] = "a"
    checkpoint["completed_nodes"].append("a")
    writer.capture(checkpoint)
    expected = as_json(checkpoint)
    context["results"].append(3)  # the next stage changes everything again before the delta
    context["last"] = "b"
    context["new"] = "c"
    checkpoint["completed_nodes"].append("b")
    checkpoint["node_retries"]["b"] = 1
    delta = writer.delta()
    assert delta is not None
    await db.write(lambda tx: checkpoints.save(tx, "R1", delta, "t"))
    assert as_json(await stored(db)) == expected
    assert writer.delta() is None  # nothing captured since
