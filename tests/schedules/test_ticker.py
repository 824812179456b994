"""The ticker (fabro/schedules/ticker.py) against a real database and the real run path
(`submit_run`, the code of POST /runs), with its clock injected: a due fire starts one run,
two tickers or a repeated tick start it once, missed fires follow the schedule's policy, and a
refused fire is recorded with its reason."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from quart import Quart

from fabro.api.schedules import fire_starter
from fabro.app import create_app
from fabro.auth.keys import ensure_key_pair
from fabro.clock import format_ts
from fabro.config import Settings, load_settings
from fabro.schedules.cron import MAX_COUNTED
from fabro.schedules.ticker import Ticker, fire_key
from fabro.services import Services
from fabro.storage.schedules import Missed, ScheduleRecord
from tests.conftest import write_config

HELLO = """digraph Hello {
  start [shape=Mdiamond]
  greet [shape=parallelogram, script="echo hello"]
  exit [shape=Msquare]
  start -> greet -> exit
}
"""
T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return self.at.timestamp()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    ensure_key_pair(tmp_path / "data" / "keys")
    loaded = load_settings(write_config(tmp_path), env={"HOME": str(tmp_path)}).settings
    folder = loaded.workflows_dir / "hello"
    folder.mkdir(parents=True)
    (folder / "workflow.dot").write_text(HELLO, encoding="utf-8")
    return loaded


@pytest.fixture
async def app(settings: Settings, services: Services) -> AsyncIterator[Quart]:
    # Not served: the app's own ticker (started while serving) stays off; the tickers under
    # test use the app only for its context, as the server's does.
    yield create_app(settings, services)


async def add(
    services: Services,
    *,
    cron: str = "0 * * * *",
    next_fire_at: datetime = T0,
    missed: Missed = "skip",
    workflow: str = "hello",
    paused: bool = False,
) -> ScheduleRecord:
    stamp = format_ts(T0 - timedelta(days=1))
    return await services.schedules.create(
        ScheduleRecord(
            id=f"sch-{cron.replace(' ', '')}-{missed}-{workflow}",
            workflow=workflow,
            cron=cron,
            time_zone="UTC",
            vars={},
            labels={"from": "schedule"},
            goal=None,
            title="Scheduled hello",
            missed=missed,
            paused=paused,
            created_by="alice",
            created_at=stamp,
            updated_at=stamp,
            next_fire_at=format_ts(next_fire_at),
        )
    )


async def caught_up(services: Services, app: Quart, at: datetime) -> tuple[Ticker, Clock]:
    """A ticker past its first tick (the one that handles fires missed while down)."""
    clock = Clock(at)
    ticker = Ticker(services.schedules, fire_starter(app), clock)
    await ticker.tick()
    return ticker, clock


async def run_ids(services: Services) -> list[str]:
    page = await services.store.list_runs(limit=100, offset=0, workflow_slug="hello")
    return [run.id for run in page.items]


async def test_a_due_fire_starts_one_run_and_moves_on(services: Services, app: Quart) -> None:
    schedule = await add(services)
    ticker, clock = await caught_up(services, app, T0 - timedelta(seconds=1))
    assert await run_ids(services) == []
    clock.at = T0 + timedelta(milliseconds=300)
    assert await ticker.tick() == 1
    [run_id] = await run_ids(services)
    run = await services.store.get_run(run_id)
    assert run is not None and run.created_by == "alice" and run.title == "Scheduled hello"
    assert run.labels == {"from": "schedule"}
    moved = await services.schedules.get(schedule.id)
    assert moved is not None and moved.next_fire_at == format_ts(T0 + timedelta(hours=1))
    assert moved.last_fire_at == format_ts(T0)
    page = await services.schedules.history(schedule.id, limit=10, offset=0)
    assert [(f.scheduled_at, f.status, f.run_id) for f in page.items] == [
        (format_ts(T0), "started", run_id)
    ]
    assert await ticker.tick() == 0  # nothing due until 11:00


async def test_two_tickers_start_one_run_per_fire(services: Services, app: Quart) -> None:
    schedule = await add(services)
    first, clock_a = await caught_up(services, app, T0 - timedelta(seconds=1))
    second, clock_b = await caught_up(services, app, T0 - timedelta(seconds=1))
    clock_a.at = clock_b.at = T0 + timedelta(seconds=1)
    recorded = await asyncio.gather(first.tick(), second.tick())
    assert sorted(recorded) == [0, 1]
    assert len(await run_ids(services)) == 1
    page = await services.schedules.history(schedule.id, limit=10, offset=0)
    assert len(page.items) == 1


async def test_a_tick_repeated_after_a_crash_finds_the_run(services: Services, app: Quart) -> None:
    schedule = await add(services)
    # The crash: the fire's run was started, the fire was not recorded.
    started = await fire_starter(app)(schedule, fire_key(schedule.id, "cron", format_ts(T0)))
    ticker, clock = await caught_up(services, app, T0 - timedelta(seconds=1))
    clock.at = T0 + timedelta(seconds=2)
    assert await ticker.tick() == 1
    assert await run_ids(services) == [started]
    page = await services.schedules.history(schedule.id, limit=10, offset=0)
    assert page.items[0].run_id == started


async def test_missed_fires_run_once_for_the_latest(services: Services, app: Quart) -> None:
    schedule = await add(services, missed="run_once")
    down_until = T0 + timedelta(hours=3, minutes=30)  # 10:00, 11:00, 12:00, 13:00 missed
    ticker = Ticker(services.schedules, fire_starter(app), Clock(down_until))
    assert await ticker.tick() == 1
    [run_id] = await run_ids(services)
    [fire] = (await services.schedules.history(schedule.id, limit=10, offset=0)).items
    assert fire.scheduled_at == format_ts(T0 + timedelta(hours=3))
    assert (fire.status, fire.run_id, fire.missed_count) == ("started", run_id, 4)
    assert fire.detail is not None and "4 fires missed" in fire.detail
    moved = await services.schedules.get(schedule.id)
    assert moved is not None and moved.next_fire_at == format_ts(T0 + timedelta(hours=4))


async def test_missed_fires_are_skipped_in_one_row(services: Services, app: Quart) -> None:
    schedule = await add(services, missed="skip")
    ticker = Ticker(
        services.schedules, fire_starter(app), Clock(T0 + timedelta(hours=3, seconds=5))
    )
    assert await ticker.tick() == 1
    assert await run_ids(services) == []
    [fire] = (await services.schedules.history(schedule.id, limit=10, offset=0)).items
    assert (fire.status, fire.run_id, fire.missed_count) == ("skipped", None, 4)
    assert fire.detail is not None and "skipped" in fire.detail
    moved = await services.schedules.get(schedule.id)
    assert moved is not None and moved.next_fire_at == format_ts(T0 + timedelta(hours=4))


async def test_a_month_down_every_minute_is_one_bounded_step(
    services: Services, app: Quart
) -> None:
    schedule = await add(services, cron="* * * * *", missed="run_once")
    ticker = Ticker(services.schedules, fire_starter(app), Clock(T0 + timedelta(days=30)))
    began = asyncio.get_running_loop().time()
    assert await ticker.tick() == 1
    assert asyncio.get_running_loop().time() - began < 5
    assert len(await run_ids(services)) == 1
    [fire] = (await services.schedules.history(schedule.id, limit=10, offset=0)).items
    assert fire.missed_count == MAX_COUNTED
    assert fire.detail is not None and f"more than {MAX_COUNTED}" in fire.detail


async def test_a_refused_fire_is_recorded_with_its_reason(services: Services, app: Quart) -> None:
    schedule = await add(services, workflow="gone")
    ticker, clock = await caught_up(services, app, T0 - timedelta(seconds=1))
    clock.at = T0
    assert await ticker.tick() == 1
    [fire] = (await services.schedules.history(schedule.id, limit=10, offset=0)).items
    assert (fire.status, fire.run_id) == ("refused", None)
    assert fire.detail == "Workflow not found: gone."
    moved = await services.schedules.get(schedule.id)
    assert moved is not None and moved.next_fire_at == format_ts(T0 + timedelta(hours=1))


async def test_a_paused_schedule_does_not_fire(services: Services, app: Quart) -> None:
    await add(services, paused=True)
    ticker = Ticker(services.schedules, fire_starter(app), Clock(T0 + timedelta(hours=5)))
    assert await ticker.tick() == 0
    assert await run_ids(services) == []


async def test_one_failing_schedule_does_not_stop_the_others(
    services: Services, app: Quart
) -> None:
    broken = await add(services, cron="0 * * * *")
    healthy = await add(services, cron="0 */2 * * *")
    real = fire_starter(app)

    async def start(schedule: ScheduleRecord, key: str) -> str:
        if schedule.id == broken.id:
            raise RuntimeError("the database is on fire")
        return await real(schedule, key)

    ticker = Ticker(services.schedules, start, Clock(T0 - timedelta(seconds=1)))
    await ticker.tick()
    ticker.clock = Clock(T0)
    assert await ticker.tick() == 1
    assert len(await run_ids(services)) == 1
    still_due = await services.schedules.get(broken.id)
    assert still_due is not None and still_due.next_fire_at == format_ts(T0)
    moved = await services.schedules.get(healthy.id)
    assert moved is not None and moved.next_fire_at == format_ts(T0 + timedelta(hours=2))
