"""Run views: a list page costs a fixed number of reads, and says what one-by-one reads say.

Found by `scripts/load`: GET /runs read each run's pending question (and queue position) one
query at a time; under load every read waits for the event loop, and pages of 100 runs took
up to 15 s (p99) while GET /runs/{id} took 2 s.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from msgspec import UNSET

from fabro.api.bodies.runs import RunListItem, RunStatusResponse
from fabro.api.views import RunView, load_run_list, load_run_status, run_list_item
from fabro.storage import questions, runs
from fabro.storage.connection import Row
from fabro.storage.db import Database
from fabro.storage.sqlite_store import SqliteStore
from fabro.storage.writer import WriteTx
from tests.storage.rows import make_run

STATUSES = ("queued", "running", "running", "paused", "completed", "failed")
NOW = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)


@pytest.fixture
async def db(tmp_path: Path):  # type: ignore[no-untyped-def]
    database = await Database.open(tmp_path / "fabro.db")
    yield database
    await database.close()


def populate(tx: WriteTx, count: int) -> None:
    """Runs of every kind; live ones with zero, one or two pending questions."""
    for n in range(count):
        run_id = f"R{n:03d}"
        status = STATUSES[n % len(STATUSES)]
        runs.insert_run(tx, make_run(run_id, f"2026-01-01T00:00:{n % 60:02d}.{n:03d}Z"))
        runs.update_run(tx, run_id, status=status, updated_at="x", error_message="boom")
        for q in range(n % 3 if status in ("running", "paused", "completed") else 0):
            questions.create_question(
                tx,
                run_id=run_id,
                stage_id=f"gate{q}",
                node_id=f"gate{q}",
                text=f"Question {q} of {run_id}",
                question_type="multiple_choice",
                options=[{"key": "Y", "label": "[Y] Yes"}],
                allow_freeform=False,
                created_at="2026-01-01T00:01:00.000Z",
            )


def list_items(page: Sequence[RunView], statuses: list[RunStatusResponse]) -> list[RunListItem]:
    """The list items the single views' queue positions and questions make."""
    return [
        run_list_item(
            run,
            now=NOW,
            queue_position=status.queue_position or None,
            pending_question=status.pending_question or None,
        )
        for run, status in zip(page, statuses, strict=True)
    ]


async def test_a_page_of_views_takes_two_reads_and_matches_single_views(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await db.write(lambda tx: populate(tx, 60))
    page = (await runs.list_runs(db, limit=100, offset=0)).items
    assert len(page) == 60
    store = SqliteStore(db)
    one_by_one = [await load_run_status(store, run) for run in page]
    assert sum(body.pending_question is not UNSET for body in one_by_one) > 5
    assert sum(body.queue_position is not UNSET for body in one_by_one) == 10

    reads = 0
    fetchall = db.fetchall

    async def counting(sql: str, params: Sequence[Any] = ()) -> list[Row]:
        nonlocal reads
        reads += 1
        return await fetchall(sql, params)

    monkeypatch.setattr(db, "fetchall", counting)
    assert await load_run_list(store, page, now=NOW) == list_items(page, one_by_one)
    assert reads == 2
    reads = 0
    terminal = [run for run in page if run.is_terminal]
    assert await load_run_list(store, terminal, now=NOW) == list_items(
        terminal, [body for body in one_by_one if body.status in ("completed", "failed")]
    )
    assert reads == 0
