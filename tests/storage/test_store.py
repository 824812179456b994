"""The Store protocol over SQLite: every method against a real database file.

The fixture holds the store as a ``Store`` (``typed: Store = SqliteStore(db)``) and the tests
use only the protocol's methods; the first test has mypy --strict check this module, so a
SqliteStore that stops implementing Store fails here.
"""

from __future__ import annotations

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
from fabro.storage.sqlite_store import SqliteStore
from fabro.storage.stages import StageRecord
from fabro.storage.store import IdempotencyCheck, IdempotencyConflict, Store, Write
from tests.storage.rows import make_run


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    db = await Database.open(tmp_path / "fabro.db")
    typed: Store = SqliteStore(db)
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
