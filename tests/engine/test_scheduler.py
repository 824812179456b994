"""The server's scheduler (fabro.engine.scheduler): FIFO admission under the concurrency
limit, cancelling queued and running runs, and recovery at start, on a real SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import pytest

from fabro.config import LlmSettings
from fabro.engine.lifecycle import NewRun
from fabro.engine.scheduler import Scheduler
from fabro.llm.simulated import SimulatedBackend
from fabro.storage.db import Database
from fabro.storage.records import RunRecord
from fabro.storage.sqlite_store import SqliteStore
from fabro.workflow.prepare import prepare
from tests.engine.harness import Harness

LINEAR = """digraph Linear {
  start [shape=Mdiamond]
  work [shape=parallelogram, script="true"]
  exit [shape=Msquare]
  start -> work -> exit
}"""
SLOW = LINEAR.replace('script="true"', 'script="sleep 30"')
BRANCHES = """digraph Branches {
  start [shape=Mdiamond]
  fan [shape=component]
  b1 [shape=parallelogram, script="true"]
  b2 [shape=parallelogram, script="true"]
  join [shape=tripleoctagon]
  exit [shape=Msquare]
  start -> fan
  fan -> b1 -> join
  fan -> b2 -> join
  join -> exit
}"""


class FrozenClock:
    def now(self) -> datetime:
        return datetime(2030, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)

    def monotonic(self) -> float:
        return 1000.0


def new_run(dot: str) -> NewRun:
    prepared = prepare(dot)
    assert prepared.ok
    return NewRun(graph=prepared.graph, dot_source=dot, title=prepared.graph.name)


@pytest.fixture
async def scheduler(harness: Harness) -> AsyncIterator[Scheduler]:
    made = Scheduler(
        SqliteStore(harness.db),
        harness.data_dir,
        1,
        SimulatedBackend,
        {"PATH": "/usr/bin:/bin"},
        LlmSettings,
    )
    yield made
    await made.close()


async def until(check: Callable[[], Awaitable[bool]], what: str, limit_s: float = 20) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``limit_s``."""
    deadline = asyncio.get_running_loop().time() + limit_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def has_status(db: Database, run_id: str, *statuses: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        run = await SqliteStore(db).get_run(run_id)
        return run is not None and run.status in statuses

    return check


async def status(db: Database, run_id: str) -> RunRecord:
    run = await SqliteStore(db).get_run(run_id)
    assert run is not None
    return run


async def test_runs_are_admitted_in_order_within_the_limit(
    harness: Harness, scheduler: Scheduler
) -> None:
    slow, _ = await scheduler.create(new_run(SLOW))
    first, _ = await scheduler.create(new_run(LINEAR))
    second, _ = await scheduler.create(new_run(LINEAR))
    await scheduler.start()
    await until(has_status(harness.db, slow.id, "running"), "the slow run to start")
    await asyncio.sleep(0.1)  # a scheduler pass that would admit another run has had its turn
    assert (await status(harness.db, first.id)).status == "queued"  # the one slot is taken
    assert (await status(harness.db, second.id)).status == "queued"

    await scheduler.cancel(slow.id)
    await until(has_status(harness.db, second.id, "completed"), "both queued runs to finish")
    done = [await status(harness.db, run.id) for run in (first, second)]
    assert [run.status for run in done] == ["completed", "completed"]
    first_done, second_done = done
    assert first_done.finished_at is not None and second_done.started_at is not None
    assert first_done.finished_at <= second_done.started_at  # one at a time, oldest first


async def test_a_cancelled_queued_run_never_starts(harness: Harness, scheduler: Scheduler) -> None:
    slow, _ = await scheduler.create(new_run(SLOW))
    queued, _ = await scheduler.create(new_run(LINEAR))
    await scheduler.start()
    await until(has_status(harness.db, slow.id, "running"), "the slow run to start")

    cancelled = await scheduler.cancel(queued.id)
    assert cancelled is not None and cancelled.status == "cancelled"
    await scheduler.cancel(slow.id)  # the slot is free again
    await until(has_status(harness.db, slow.id, "cancelled"), "the slow run to be cancelled")
    await asyncio.sleep(0.1)
    after = await status(harness.db, queued.id)
    assert after.status == "cancelled" and after.started_at is None
    assert await harness.stages(queued.id) == []
    assert await harness.variants(queued.id) == ["RunQueued", "RunCancelled"]


async def test_a_run_left_running_by_a_previous_process_is_resumed_at_start(
    harness: Harness, scheduler: Scheduler
) -> None:
    record = await harness.create(LINEAR)
    await harness.engine(record)  # claimed (running), then the process "dies": no engine runs it
    assert (await status(harness.db, record.id)).status == "running"

    await scheduler.start()
    await until(has_status(harness.db, record.id, "completed"), "the recovered run to finish")
    assert [s.node_id for s in await harness.stages(record.id)] == ["start", "work", "exit"]


async def test_the_engines_take_their_time_from_the_clock_given(harness: Harness) -> None:
    scheduler = Scheduler(
        SqliteStore(harness.db),
        harness.data_dir,
        1,
        SimulatedBackend,
        {"PATH": "/usr/bin:/bin"},
        LlmSettings,
        clock=FrozenClock(),
    )
    try:
        run, _ = await scheduler.create(new_run(BRANCHES))
        await scheduler.start()
        await until(has_status(harness.db, run.id, "completed"), "the run to finish")
    finally:
        await scheduler.close()
    branches = [s for s in await harness.stages(run.id) if s.parallel_parent]
    assert [(s.started_at, s.duration_ms) for s in branches] == [
        ("2030-01-02T03:04:05.006Z", 0)
    ] * 2
