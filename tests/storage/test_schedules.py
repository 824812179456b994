"""Schedules and their fires in a real SQLite file (fabro/storage/schedules.py): a fire is
recorded once however many tickers try, the history stays bounded, and deleting a schedule
deletes its history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fabro.storage import schedules as module
from fabro.storage.db import Database
from fabro.storage.schedules import Advance, NewFire, ScheduleRecord, Schedules

AT = "2026-06-01T10:00:00.000Z"
NEXT = "2026-06-01T11:00:00.000Z"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Schedules]:
    db = await Database.open(tmp_path / "fabro.db")
    yield Schedules(db)
    await db.close()


def schedule(**changes: object) -> ScheduleRecord:
    base = {
        "id": "S1",
        "workflow": "hello",
        "cron": "0 * * * *",
        "time_zone": "UTC",
        "vars": {"a": "1"},
        "labels": {},
        "goal": None,
        "title": "t",
        "missed": "skip",
        "paused": False,
        "created_by": "alice",
        "created_at": AT,
        "updated_at": AT,
        "next_fire_at": AT,
    }
    return ScheduleRecord(**{**base, **changes})  # type: ignore[arg-type]


def fire(at: str = AT, status: str = "started") -> NewFire:
    return NewFire("S1", "cron", at, status, AT, run_id="R1")  # type: ignore[arg-type]


async def test_a_fire_is_recorded_and_the_schedule_moved_once(store: Schedules) -> None:
    await store.create(schedule())
    advance = Advance(expected=AT, next_fire_at=NEXT, last_fire_at=AT)
    assert await store.record_fire(fire(), advance) is True
    assert await store.record_fire(fire(), advance) is False  # a second ticker: no change
    moved = await store.get("S1")
    assert moved is not None and (moved.next_fire_at, moved.last_fire_at) == (NEXT, AT)
    assert len((await store.history("S1", limit=10, offset=0)).items) == 1
    assert await store.due(NEXT) == [moved]
    assert await store.due("2026-06-01T10:59:59.999Z") == []


async def test_the_history_keeps_the_newest_fires(
    store: Schedules, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(module, "MAX_HISTORY", 5)
    await store.create(schedule())
    for minute in range(12):
        assert await store.record_fire(fire(f"2026-06-01T10:{minute:02d}:00.000Z"))
    page = await store.history("S1", limit=100, offset=0)
    assert [f.scheduled_at[14:16] for f in page.items] == ["11", "10", "09", "08", "07"]


async def test_paused_schedules_are_not_due_and_delete_takes_the_history(
    store: Schedules,
) -> None:
    await store.create(schedule())
    await store.record_fire(fire())
    paused = await store.update("S1", {"paused": True, "vars": {"b": "2"}}, NEXT)
    assert paused is not None and paused.paused and paused.vars == {"b": "2"}
    assert await store.due(NEXT) == []
    assert await store.delete("S1") is True
    assert await store.delete("S1") is False
    assert (await store.history("S1", limit=10, offset=0)).items == []
    with pytest.raises(ValueError, match="not a schedule column"):
        await store.update("S1", {"created_by": "mallory"}, NEXT)
