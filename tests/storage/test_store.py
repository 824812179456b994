"""The Store and SessionStore protocols over SQLite: every method against a real database file.

The fixtures hold the stores as protocols (``typed: Store = SqliteStore(db)``) and the tests
use only the protocols' methods; the first test has mypy --strict check this module, so a
SqliteStore (or SqliteSessionStore) that stops implementing its protocol fails here.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fabro.clock import now_ts
from fabro.storage import stages
from fabro.storage.db import Database
from fabro.storage.questions import QuestionRecord
from fabro.storage.records import NewEvent, RunRecord
from fabro.storage.session_store import SessionStore
from fabro.storage.sessions import SessionRecord
from fabro.storage.sqlite_sessions import SqliteSessionStore
from fabro.storage.sqlite_store import SqliteStore
from fabro.storage.stages import StageFinish, StageRecord
from fabro.storage.store import IdempotencyCheck, IdempotencyConflict, Store, Write
from tests.storage.rows import make_run
from tests.storage.usage_rows import seed_usage


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    db = await Database.open(tmp_path / "fabro.db")
    typed: Store = SqliteStore(db)
    yield typed
    await db.close()


@pytest.fixture
async def chats(tmp_path: Path) -> AsyncIterator[SessionStore]:
    db = await Database.open(tmp_path / "fabro.db")
    typed: SessionStore = SqliteSessionStore(db)
    yield typed
    await db.close()


def test_the_sqlite_store_type_checks_as_a_store(tmp_path: Path) -> None:
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--follow-imports=silent",  # only this module's errors: it holds the assignment
            "--cache-dir",
            str(tmp_path / "mypy"),
            __file__,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


# The modules that open the database and hand its stores out (they may import SQLITE_ONLY).
COMPOSITION_ROOTS = ("services.py", "startup.py", "standalone/run.py")
# What stays behind the stores: their records may be imported, their functions not.
BEHIND_THE_STORES = ("runs", "events", "questions", "stages", "sessions", "steering", "checkpoints")
SQLITE_ONLY = ("db", "writer", "connection", "migrate", "sqlite_store", "sqlite_sessions")


def storage_reach(source: str, *, root: bool = False) -> list[str]:
    """What a module outside fabro/storage takes from it that it should get from a store
    (``root``: a composition root, which opens the database)."""
    found = [f"uses {text}" for text in ("services().db", "services.db") if text in source]
    forbidden = BEHIND_THE_STORES + (() if root else SQLITE_ONLY)
    imports = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)]
    for node in imports:
        module = node.module or ""
        if not module.startswith("fabro.storage"):
            continue
        names = [alias.name for alias in node.names]
        last = module.rsplit(".", 1)[-1]
        if module == "fabro.storage":
            found += [f"imports {name}" for name in names if name in forbidden]
        elif last in SQLITE_ONLY and not root:
            found.append(f"imports {module}")
        elif last in BEHIND_THE_STORES:
            loaded = importlib.import_module(module)
            functions = [name for name in names if inspect.isfunction(getattr(loaded, name, None))]
            found += [f"imports {module}.{name}" for name in functions]
    return found


def test_code_outside_storage_reaches_the_database_only_through_the_stores() -> None:
    package = Path(importlib.import_module("fabro").__file__ or "").parent
    modules = {
        str(path.relative_to(package)): path.read_text(encoding="utf-8")
        for path in sorted(package.rglob("*.py"))
        if path.relative_to(package).parts[0] != "storage"
    }
    reach = {
        module: storage_reach(source, root=module in COMPOSITION_ROOTS)
        for module, source in modules.items()
    }
    assert {module: found for module, found in reach.items() if found} == {}


def test_the_seam_check_sees_each_way_around_the_stores() -> None:
    assert storage_reach("from fabro.storage import runs") == ["imports runs"]
    assert storage_reach("from fabro.storage.db import Database") == ["imports fabro.storage.db"]
    assert storage_reach("from fabro.storage.stages import StageRecord, list_stages") == [
        "imports fabro.storage.stages.list_stages"
    ]
    assert storage_reach("x = services().db") == ["uses services().db"]
    assert storage_reach("from fabro.storage.records import RunRecord") == []
    assert storage_reach("from fabro.storage.db import Database", root=True) == []
    assert storage_reach("from fabro.storage import runs", root=True) == ["imports runs"]


def queued(position: int) -> NewEvent:
    return NewEvent.of({"RunQueued": {"queue_position": position}})


def named(variant: str) -> NewEvent:
    return NewEvent.of({variant: {}})


async def test_create_run_stores_the_run_with_its_queue_position(store: Store) -> None:
    await store.create_run(make_run("R1"), queued)
    run, stored = await store.create_run(make_run("R2"), queued)
    assert run.id == "R2" and await store.get_run("R2") == run
    assert [(e.seq, e.payload) for e in stored] == [(1, {"RunQueued": {"queue_position": 2}})]
    assert await store.events_after("R2", 0) == stored
    assert await store.last_seq("R2") == 1


async def test_an_idempotency_key_creates_one_run_and_refuses_another_body(store: Store) -> None:
    key = IdempotencyCheck("alice", "k1", "hash-a", not_before="")
    first, stored = await store.create_run(make_run("R1"), queued, key)
    again, none = await store.create_run(make_run("R2"), queued, key)
    assert stored and none == [] and again == first
    assert await store.get_run("R2") is None
    with pytest.raises(IdempotencyConflict):
        await store.create_run(
            make_run("R3"), queued, IdempotencyCheck("alice", "k1", "hash-b", "")
        )


async def test_move_run_changes_only_a_run_in_an_allowed_status(store: Store) -> None:
    await store.create_run(make_run("R1"), queued)
    moved, stored = await store.move_run(
        "R1", ["queued"], [named("WorkflowRunStarted")], status="running", updated_at=now_ts()
    )
    assert moved is not None and moved.status == "running"
    assert [e.variant for e in stored] == ["WorkflowRunStarted"]
    assert await store.move_run(
        "R1", ["queued"], [named("X")], status="paused", updated_at="t"
    ) == (
        None,
        [],
    )
    assert await store.last_seq("R1") == 2  # nothing stored for the refused move
    assert [r.id for r in await store.runs_with_status(["running"])] == ["R1"]
    assert await store.runs_with_status(["queued"], limit=1) == []


async def test_end_run_closes_stages_and_questions_and_events_see_the_run_as_it_was(
    store: Store, tmp_path: Path
) -> None:
    await store.create_run(make_run("R1"), queued)
    await store.move_run("R1", ["queued"], status="running", current_node="a", updated_at="t")
    assert isinstance(store, SqliteStore)  # stage rows are the recorder's: written directly
    stage = StageRecord("R1", "s1", "a", "a", 1, 0, "running", now_ts())
    await store.db.write(lambda tx: stages.start_stage(tx, stage))
    question = await store.commit(question_write(store, "R1", "s1"))
    seen: list[RunRecord] = []

    def cancelled(current: RunRecord) -> NewEvent:
        seen.append(current)
        return named("RunCancelled")

    ts = now_ts()
    moved, stored = await store.end_run(
        "R1", "cancelled", cancelled, finished_at=ts, updated_at=ts, owner_pid=None
    )
    assert moved is not None and moved.status == "cancelled" and moved.finished_at == ts
    assert [r.status for r in seen] == ["running"] and seen[0].current_node == "a"
    assert [e.variant for e in stored] == ["RunCancelled"]
    closed = await stages.get_stage(store.db, "R1", "s1")
    assert closed is not None and closed.status == "cancelled"
    withdrawn = await store.get_question("R1", question.qid)
    assert withdrawn is not None and withdrawn.status == "withdrawn"
    assert await store.end_run("R1", "failed", cancelled, updated_at=ts) == (None, [])


async def test_reclaim_run_claims_interrupted_runs_but_not_finished_ones(store: Store) -> None:
    for run_id in ("P", "C", "F"):
        await store.create_run(make_run(run_id), queued)
    await store.move_run("P", ["queued"], status="paused", updated_at="t")
    await store.move_run("C", ["queued"], status="cancelled", updated_at="t")
    await store.move_run("F", ["queued"], status="failed", updated_at="t")
    resumed = named("RunResumed")
    paused, stored = await store.reclaim_run("P", resumed, keep_paused=True, owner_pid=7, ts="t2")
    assert paused is not None and (paused.status, paused.owner_pid) == ("paused", 7)
    assert [e.variant for e in stored] == ["RunResumed"]
    again, _ = await store.reclaim_run("C", resumed, keep_paused=True, owner_pid=7, ts="t2")
    assert again is not None and again.status == "running" and again.started_at == "t2"
    assert await store.reclaim_run("F", resumed, keep_paused=False, owner_pid=7, ts="t") == (
        None,
        [],
    )


async def test_a_new_run_has_no_checkpoint_and_the_disk_takes_writes(store: Store) -> None:
    await store.create_run(make_run("R1"), queued)
    assert await store.get_checkpoint("R1") is None
    assert await store.writable()


def question_write(store: Store, run_id: str, stage_id: str) -> Write[QuestionRecord]:
    return store.create_question(
        run_id=run_id,
        stage_id=stage_id,
        node_id="gate",
        text="Ship it?",
        question_type="multiple_choice",
        options=[{"key": "Y", "label": "Yes"}],
        allow_freeform=False,
        created_at=now_ts(),
    )


async def test_questions_are_numbered_answered_once_and_closed(store: Store) -> None:
    await store.create_run(make_run("R1"), queued)
    first = await store.commit(question_write(store, "R1", "s1"))
    second = await store.commit(question_write(store, "R1", "s1"))
    assert (first.qid, second.qid) == ("q-1", "q-2")
    assert await store.latest_question("R1", "s1") == second
    assert await store.answer_question("R1", "q-1", {"selected_option_key": "Y"}, "alice", "t")
    assert not await store.answer_question("R1", "q-1", {"value": "late"}, "bob", "t")
    answered = await store.get_question("R1", "q-1")
    assert answered is not None and answered.answer == {"selected_option_key": "Y"}
    await store.close_question("R1", "q-2", "expired", "t")
    expired = await store.get_question("R1", "q-2")
    assert expired is not None and expired.status == "expired"


async def test_steering_is_pending_until_a_stage_consumes_it(store: Store) -> None:
    await store.create_run(make_run("R1"), queued)
    before = store.steering_version()
    assert await store.pending_steering("R1") == []
    added = await store.add_steering(
        run_id="R1",
        guidance="Use tabs",
        location={"file": "a.py", "line": 3},
        created_by="alice",
        created_at="t",
    )
    assert store.steering_version() == before + 1
    assert added.text == "Use tabs (at a.py:3)"
    assert await store.pending_steering("R1") == [added]
    await store.commit(store.consume_steering("R1", [added.n], "s1", "t2"))
    assert await store.pending_steering("R1") == []


# ---- reads for the API ----


async def test_run_summaries_are_listed_newest_first_filtered_and_paged(store: Store) -> None:
    for n, run in enumerate((make_run("R1"), make_run("R2"), make_run("R3"))):
        await store.create_run(dataclasses.replace(run, created_at=f"2026-01-0{n + 1}"), queued)
    labelled = dataclasses.replace(make_run("W"), created_at="2025-12-31", workflow_slug="wf")
    await store.create_run(labelled, queued)
    await store.move_run("R2", ["queued"], status="running", updated_at="t")
    summary = await store.get_run_summary("R2")
    assert summary is not None and (summary.id, summary.status) == ("R2", "running")
    assert await store.get_run_summary("nope") is None
    first = await store.list_runs(limit=2, offset=0)
    assert [r.id for r in first.items] == ["R3", "R2"] and first.has_more
    last = await store.list_runs(limit=2, offset=2)
    assert [r.id for r in last.items] == ["R1", "W"] and not last.has_more
    queued_page = await store.list_runs(limit=9, offset=0, statuses=["queued"])
    assert [r.id for r in queued_page.items] == ["R3", "R1", "W"]
    slugged = await store.list_runs(limit=9, offset=0, workflow_slug="wf")
    assert [r.id for r in slugged.items] == ["W"]


async def test_queue_positions_follow_fifo_order_and_started_runs_are_counted(
    store: Store,
) -> None:
    for n, run_id in enumerate(("R1", "R2", "R3")):
        await store.create_run(make_run(run_id, created_at=f"2026-01-0{n + 1}"), queued)
    await store.move_run("R1", ["queued"], status="running", updated_at="t")
    assert await store.queue_positions() == {"R2": 1, "R3": 2}
    third = await store.get_run_summary("R3")
    running = await store.get_run("R1")
    assert third is not None and running is not None
    assert await store.queue_position(third) == 2
    assert await store.queue_position(running) is None
    assert await store.count_started_runs() == 1


async def test_a_remembered_idempotency_key_names_its_run_until_it_is_forgotten(
    store: Store,
) -> None:
    check = IdempotencyCheck("alice", "k1", "hash-a", not_before="")
    assert await store.remembered_key(check) is None
    await store.create_run(make_run("R1"), queued, check)
    found = await store.remembered_key(check)
    assert found is not None and (found.run_id, found.request_hash) == ("R1", "hash-a")
    later = dataclasses.replace(check, not_before="9999")
    assert await store.remembered_key(later) is None
    assert await store.remembered_key(dataclasses.replace(check, principal="bob")) is None


async def test_pending_questions_and_the_oldest_of_each_run(store: Store) -> None:
    await store.create_run(make_run("R1"), queued)
    await store.create_run(make_run("R2"), queued)
    first = await store.commit(question_write(store, "R1", "s1"))
    second = await store.commit(question_write(store, "R1", "s2"))
    assert await store.pending_questions("R1") == [first, second]
    assert await store.oldest_pending(["R1", "R2"]) == {"R1": first}
    await store.answer_question("R1", first.qid, {"value": "y"}, "alice", "t")
    assert await store.pending_questions("R1") == [second]
    assert await store.oldest_pending(["R1", "R2"]) == {"R1": second}
    assert await store.oldest_pending([]) == {}


async def test_steer_adds_guidance_only_to_a_run_in_the_given_statuses(store: Store) -> None:
    await store.create_run(make_run("R1"), queued)

    async def steer() -> object:
        return await store.steer(
            ("running", "paused"),
            run_id="R1",
            guidance="Use tabs",
            location=None,
            created_by="alice",
            created_at="t",
        )

    assert await steer() is None
    assert await store.pending_steering("R1") == []
    await store.move_run("R1", ["queued"], status="running", updated_at="t")
    added = await steer()
    assert added is not None and await store.pending_steering("R1") == [added]
    assert (
        await store.steer(
            ("running",),
            run_id="nope",
            guidance="g",
            location=None,
            created_by=None,
            created_at="t",
        )
        is None
    )


async def test_stage_rows_turns_and_usage_are_read_back(store: Store) -> None:
    await store.create_run(make_run("R1"), queued)
    await store.create_run(make_run("R2"), queued)
    first = StageRecord("R1", "a-1", "a", "A", 1, 0, "running", "t1")
    second = StageRecord("R1", "b-1", "b", "B", 1, 1, "running", "t2")
    usage = {"input_tokens": 10, "output_tokens": 4}
    finish = StageFinish("completed", "t3", 1500, 1, {"status": "success"}, "m1", usage, 0.25)
    await store.commit(store.start_stage(first))
    await store.commit(store.start_stage(second))
    await store.commit(store.finish_stage("R1", "a-1", finish))
    await store.commit(store.append_turn("R1", "a-1", "assistant", "t2", "hi", None))
    await store.commit(store.append_turn("R1", "a-1", "tool", "t3", None, [{"name": "x"}]))
    assert [s.stage_id for s in await store.list_stages("R1")] == ["a-1", "b-1"]
    assert await store.list_stages("R2") == []
    stage = await store.get_stage("R1", "a-1")
    assert stage is not None and (stage.status, stage.model, stage.cost) == (
        "completed",
        "m1",
        0.25,
    )
    assert await store.get_stage("R1", "nope") is None
    turns = await store.list_turns("R1", "a-1")
    assert [(t.n, t.kind, t.content, t.tools) for t in turns] == [
        (1, "assistant", "hi", None),
        (2, "tool", None, [{"name": "x"}]),
    ]
    [totals] = await store.usage_by_model()
    assert (totals.model, totals.stages, totals.input_tokens, totals.runtime_ms) == (
        "m1",
        1,
        10,
        1500,
    )
    assert await store.usage_by_model(["R1"]) == [totals]
    assert await store.usage_by_model(["R2"]) == []


async def test_usage_is_summed_per_grouping_over_a_range(store: Store) -> None:
    await seed_usage(store)  # the table in tests/storage/usage_rows.py

    def rows(groups: list[stages.UsageGroup]) -> list[tuple[object, ...]]:
        return [
            (*g.keys, g.runs, g.stages, g.input_tokens, g.output_tokens, g.cost) for g in groups
        ]

    assert rows(await store.usage_by(("day",))) == [
        ("2026-12-01", 1, 1, 10, 1, 1.0),
        ("2026-12-02", 2, 2, 60, 6, 6.0),
        ("2026-12-03", 1, 1, 80, 8, 16.0),
    ]
    by_model = await store.usage_by(("model",), since="2026-12-02T00:00:00.000Z")
    assert rows(by_model) == [("m1", 2, 2, 120, 12, 20.0), ("m2", 1, 1, 20, 2, 2.0)]
    assert [g.runtime_ms for g in by_model] == [200, 100]
    assert rows(await store.usage_by(("workflow",))) == [
        (None, 1, 1, 40, 4, 4.0),  # pasted DOT
        ("fix", 2, 3, 110, 11, 19.0),
    ]
    assert rows(await store.usage_by(("user",))) == [
        ("alice", 1, 2, 30, 3, 3.0),
        ("bob", 2, 2, 120, 12, 20.0),
    ]
    # Two groupings, and a range that ends (before) the last millisecond of 12-02.
    in_range = await store.usage_by(
        ("user", "day"), "2026-12-02T00:00:00.000Z", "2026-12-02T23:59:59.999Z"
    )
    assert rows(in_range) == [("bob", "2026-12-02", 1, 1, 40, 4, 4.0)]
    assert await store.usage_by(("day",), "2026-12-04T00:00:00.000Z") == []
    assert await store.count_started_runs() == 3
    assert await store.count_started_runs("2026-12-02T00:00:00.000Z") == 2
    assert await store.count_started_runs(None, "2026-12-02T08:00:00.000Z") == 1
    with pytest.raises(KeyError):
        await store.usage_by(("model; DROP TABLE runs",))
    with pytest.raises(KeyError):
        await store.usage_by(())


# ---- chat sessions ----


def session(session_id: str, ts: str) -> SessionRecord:
    return SessionRecord(id=session_id, title="t", model="m", created_at=ts, updated_at=ts)


async def test_a_session_keeps_its_turns_and_numbers_its_events_from_zero(
    chats: SessionStore,
) -> None:
    await chats.create_session(session("S1", "t1"), "Hello")
    assert await chats.get_session("S1") == session("S1", "t1")
    assert await chats.get_session("nope") is None
    delta = await chats.append_session_event("S1", "content_delta", {"delta": "Hi"}, "t2")
    assert delta.seq == 0 and delta.data == '{"delta":"Hi"}'
    ended = await chats.end_reply("S1", "Hi there", "t3")
    assert [(e.seq, e.event) for e in ended] == [(1, "assistant_turn"), (2, "done")]
    turns = await chats.list_session_turns("S1")
    assert [(t.n, t.kind, t.content) for t in turns] == [
        (1, "user", "Hello"),
        (2, "assistant", "Hi there"),
    ]
    added = await chats.add_session_turn("S1", "user", "More", "t4")
    assert (added.n, added.kind) == (3, "user")
    assert await chats.session_events_after("S1", -1, limit=10) == [delta, *ended]
    assert await chats.session_events_after("S1", 0, limit=1) == ended[:1]


async def test_sessions_are_listed_by_last_update_with_their_last_turn(
    chats: SessionStore,
) -> None:
    await chats.create_session(session("S1", "t1"), "first")
    await chats.create_session(session("S2", "t2"), "second")
    await chats.add_session_turn("S1", "user", "again", "t3")
    listed = await chats.list_sessions(limit=10, offset=0)
    assert [(item.session.id, item.last_turn) for item in listed] == [
        ("S1", "again"),
        ("S2", "second"),
    ]
    assert [item.session.id for item in await chats.list_sessions(limit=1, offset=1)] == ["S2"]
