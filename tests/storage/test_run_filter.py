"""Finding and counting runs by a RunFilter (the web UI's board reads)."""

from __future__ import annotations

from dataclasses import replace

from fabro.storage import questions, runs
from fabro.storage.db import Database
from fabro.storage.records import RunFilter
from fabro.storage.writer import WriteTx
from tests.storage.rows import make_run


async def setup(db: Database) -> None:
    def write(tx: WriteTx) -> None:
        rows = [
            ("Q", "queued", {}, None, None),
            ("A", "running", {"team": "ops"}, "deploy", "alice"),
            ("W", "running", {"team": "ops", "it's": 'a "quote"'}, "deploy", "bob"),
            ("P", "paused", {"team": "web"}, None, "alice"),
            ("C", "completed", {"team": "ops"}, "build", "bob"),
            ("F", "failed", {}, "build", "alice"),
        ]
        for n, (run_id, status, labels, slug, user) in enumerate(rows):
            run = make_run(run_id, f"2026-01-01T00:00:0{n}.000Z")
            runs.insert_run(
                tx,
                replace(run, status=status, labels=labels, workflow_slug=slug, created_by=user),
            )
        for run_id in ("W", "P", "C"):  # C's is left over: an ended run never waits
            questions.create_question(
                tx,
                run_id=run_id,
                stage_id="gate",
                node_id="gate",
                text="?",
                question_type="yes_no",
                options=[],
                allow_freeform=False,
                created_at="t",
            )
        questions.answer_question(tx, "P", "q-1", {"value": "y"}, "bob", "t")

    await db.write(write)


async def ids(db: Database, match: RunFilter) -> list[str]:
    return [run.id for run in (await runs.find_runs(db, match, limit=10, offset=0)).items]


async def test_each_condition_narrows_the_runs_found(db: Database) -> None:
    await setup(db)
    assert await ids(db, RunFilter()) == ["F", "C", "P", "W", "A", "Q"]
    assert await ids(db, RunFilter(statuses=("running", "paused"))) == ["P", "W", "A"]
    assert await ids(db, RunFilter(workflow_slug="deploy")) == ["W", "A"]
    assert await ids(db, RunFilter(created_by="bob")) == ["C", "W"]
    assert await ids(db, RunFilter(labels=(("team", "ops"),))) == ["C", "W", "A"]
    assert await ids(db, RunFilter(labels=(("team", "ops"), ("it's", 'a "quote"')))) == ["W"]
    assert await ids(db, RunFilter(labels=(("team", "ops') OR 1=1 --"),))) == []
    assert await ids(db, RunFilter(waiting=True)) == ["W"]
    assert await ids(db, RunFilter(waiting=False)) == ["F", "C", "P", "A", "Q"]
    assert await ids(db, RunFilter(run_ids=("A", "C", "nope"), created_by="alice")) == ["A"]
    page = await runs.find_runs(db, RunFilter(), limit=2, offset=3)
    assert [run.id for run in page.items] == ["W", "A"] and page.has_more
    assert page.items[0].created_by == "bob"


async def test_counts_by_status_and_waiting_in_one_read(db: Database) -> None:
    await setup(db)
    assert await runs.count_runs_by_state(db, RunFilter()) == {
        ("queued", False): 1,
        ("running", False): 1,
        ("running", True): 1,
        ("paused", False): 1,
        ("completed", False): 1,
        ("failed", False): 1,
    }
    assert await runs.count_runs_by_state(db, RunFilter(labels=(("team", "ops"),))) == {
        ("running", False): 1,
        ("running", True): 1,
        ("completed", False): 1,
    }
