"""Stage rows: a start and a finish written together store what writing them in turn stores."""

from __future__ import annotations

import pytest

from fabro.storage import runs, stages
from fabro.storage.db import Database
from fabro.storage.stages import StageFinish, StageRecord
from fabro.storage.writer import WriteTx
from tests.storage.rows import make_run


@pytest.fixture
async def db(db: Database) -> Database:
    """The database of conftest.py, holding run R1."""
    await db.write(lambda tx: runs.insert_run(tx, make_run("R1")))
    return db


def stage(stage_id: str, started_at: str = "2026-12-01T00:00:00.000Z") -> StageRecord:
    return StageRecord(
        run_id="R1",
        stage_id=stage_id,
        node_id=stage_id.split("@")[0],
        name="Plan",
        visit=1,
        stage_index=0,
        status="running",
        started_at=started_at,
        handler_type="agent",
    )


FINISH = StageFinish(
    status="completed",
    finished_at="2026-12-01T00:00:01.000Z",
    duration_ms=1000,
    attempts=2,
    outcome={"status": "success", "notes": "done"},
    model="claude-opus-4-6",
    usage={"input_tokens": 5, "output_tokens": 7, "reasoning_tokens": 1},
    cost=0.25,
)


def _turn(tx: WriteTx, stage_id: str, content: str) -> None:
    stages.append_turn(tx, "R1", stage_id, "system", "2026-12-01T00:00:00.500Z", content, None)


async def test_a_stage_started_finished_is_the_row_of_a_start_then_a_finish(db: Database) -> None:
    def in_turn(tx: WriteTx) -> None:
        stages.start_stage(tx, stage("a@1"))
        stages.finish_stage(tx, "R1", "a@1", FINISH)

    await db.write(in_turn)
    await db.write(lambda tx: stages.start_stage(tx, stage("b@1"), FINISH))
    a, b = await stages.get_stage(db, "R1", "a@1"), await stages.get_stage(db, "R1", "b@1")
    assert a is not None and b is not None
    assert b.status == "completed" and b.attempts == 2 and b.cost == 0.25
    assert b.ordinal == a.ordinal + 1
    assert {**vars(b), "stage_id": "", "node_id": "", "ordinal": 0} == {
        **vars(a),
        "stage_id": "",
        "node_id": "",
        "ordinal": 0,
    }


async def test_a_rerun_stage_started_finished_replaces_its_row_and_turns(db: Database) -> None:
    await db.write(lambda tx: (stages.start_stage(tx, stage("a@1")), _turn(tx, "a@1", "old")))

    def rerun(tx: WriteTx) -> None:
        stages.start_stage(tx, stage("a@1", "2026-12-01T00:00:05.000Z"), FINISH)
        _turn(tx, "a@1", "new")

    await db.write(rerun)
    row = await stages.get_stage(db, "R1", "a@1")
    assert row is not None
    assert (row.status, row.started_at, row.finished_at, row.model) == (
        "completed",
        "2026-12-01T00:00:05.000Z",
        FINISH.finished_at,
        "claude-opus-4-6",
    )
    assert row.outcome == FINISH.outcome and row.input_tokens == 5 and row.reasoning_tokens == 1
    assert [(t.n, t.content) for t in await stages.list_turns(db, "R1", "a@1")] == [(1, "new")]


@pytest.mark.parametrize(
    "groupings",
    [("model",), ("day",), ("workflow",), ("user",), ("day", "model", "workflow", "user")],
)
@pytest.mark.parametrize("since", [None, "2026-12-01T00:00:00.000Z"])
async def test_usage_roll_ups_read_the_usage_index_and_never_the_stage_rows(
    db: Database, groupings: tuple[str, ...], since: str | None
) -> None:
    sql, params = stages.usage_query(groupings, since, None)
    plan = [row[3] for row in await db.fetchall("EXPLAIN QUERY PLAN " + sql, params)]
    on_stages = [step for step in plan if step.startswith(("SCAN s ", "SEARCH s "))]
    assert on_stages, plan
    assert all("USING COVERING INDEX stages_usage" in step for step in on_stages), plan
    # A run's row is read only for what comes from it, and through an index.
    on_runs = [step for step in plan if step.startswith(("SCAN r", "SEARCH r"))]
    assert bool(on_runs) == bool(stages.RUN_GROUPINGS & set(groupings)), plan
    assert all("USING" in step for step in on_runs), plan
