"""The ticker: once a second, start the due fire of every schedule that is not paused.

A fire starts its run through the same path as `POST /runs` (the ``FireStarter`` the server
hands in), with the Idempotency-Key ``schedule:<id>:<scheduled time>``: two tickers, or a tick
repeated after a crash, find the run the key names instead of starting another. What became
of the fire and the schedule's next fire are then written in one transaction that only one
ticker can win (``Schedules.record_fire``).

Fires missed while the server was down (any fire due at the first tick, or more than one due
at a later tick) follow the schedule's ``missed`` policy: ``skip`` records one skipped row
with their count, ``run_once`` starts one run for the latest of them. Neither walks the
missed fires: the latest is found directly and the count stops at MAX_COUNTED.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime

from fabro.clock import SYSTEM_CLOCK, Clock, format_ts, parse_ts
from fabro.errors import FabroError
from fabro.schedules.cron import Cron, CronError, zone_names
from fabro.storage.schedules import Advance, FireKind, NewFire, ScheduleRecord, Schedules
from fabro.storage.space import log_retried_failure

log = logging.getLogger(__name__)

TICK_S = 1.0
# Due schedules read at a time; a tick goes on reading until none is left.
DUE_BATCH = 100

# Starts the run of a fire as the schedule's creator, with the given Idempotency-Key, and
# returns its id (an existing run's when the key names one). A FabroError below 500 refuses
# the fire (the policy blocks the workflow, the workflow is gone or no longer valid); any
# other error leaves the fire due, to be tried again at the next tick.
FireStarter = Callable[[ScheduleRecord, str], Awaitable[str]]


def fire_key(schedule_id: str, kind: FireKind, scheduled_at: str) -> str:
    """The Idempotency-Key of a fire (a trigger's key names it as one)."""
    if kind == "trigger":
        return f"schedule:{schedule_id}:trigger:{scheduled_at}"
    return f"schedule:{schedule_id}:{scheduled_at}"


async def start_fire(
    start: FireStarter,
    schedule: ScheduleRecord,
    kind: FireKind,
    scheduled_at: str,
    now: str,
    *,
    missed_count: int = 0,
    note: str | None = None,
) -> NewFire:
    """Start the run of one fire: the fire to record, started or refused (and why)."""
    key = fire_key(schedule.id, kind, scheduled_at)
    base = NewFire(schedule.id, kind, scheduled_at, "started", now, missed_count=missed_count)
    try:
        run_id = await start(schedule, key)
    except FabroError as error:
        if error.status >= 500:
            raise
        return replace(base, status="refused", detail=_joined(note, error.detail))
    return replace(base, run_id=run_id, detail=note)


class Ticker:
    """Starts the due fires of the schedules of one database, with an injectable clock."""

    def __init__(
        self,
        schedules: Schedules,
        start: FireStarter,
        clock: Clock = SYSTEM_CLOCK,
        interval_s: float = TICK_S,
    ) -> None:
        self.schedules = schedules
        self.start = start
        self.clock = clock
        self.interval_s = interval_s
        self._caught_up = False  # False until a first tick has handled every due schedule

    async def run_forever(self) -> None:
        """Tick until cancelled; an error in one tick is logged, the next tick tries again."""
        await asyncio.to_thread(zone_names)
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log_retried_failure(log, "schedule tick failed")
            await asyncio.sleep(self.interval_s)

    async def tick(self) -> int:
        """Handle every schedule due now; returns how many fires this ticker recorded."""
        now = self.clock.now()
        startup = not self._caught_up
        recorded = 0
        seen: set[str] = set()
        while True:
            due = await self.schedules.due(format_ts(now), limit=DUE_BATCH)
            fresh = [schedule for schedule in due if schedule.id not in seen]
            for schedule in fresh:
                seen.add(schedule.id)
                try:
                    recorded += await self._handle(schedule, now, startup)
                except Exception:  # one schedule's trouble never stops the others' fires
                    log_retried_failure(
                        log, "schedule %s: fire failed, tried again next tick", schedule.id
                    )
            if len(due) < DUE_BATCH or not fresh:
                break
        self._caught_up = True
        return recorded

    async def _handle(self, schedule: ScheduleRecord, now: datetime, startup: bool) -> int:
        try:
            cron = Cron.parse(schedule.cron, schedule.time_zone)
        except CronError as error:  # the zone database changed under a stored schedule
            log.warning("schedule %s cannot fire: %s", schedule.id, error)
            return 0
        expected = parse_ts(schedule.next_fire_at)
        latest = max(cron.latest_at_or_before(now), expected)
        advance = Advance(
            expected=schedule.next_fire_at,
            next_fire_at=format_ts(cron.next_after(now)),
            last_fire_at=format_ts(latest),
        )
        recorded_at = format_ts(now)
        if not startup and latest == expected:
            fire = await start_fire(
                self.start, schedule, "cron", schedule.next_fire_at, recorded_at
            )
        else:
            fire = await self._missed(schedule, cron, expected, latest, recorded_at)
        return int(await self.schedules.record_fire(fire, advance))

    async def _missed(
        self,
        schedule: ScheduleRecord,
        cron: Cron,
        first: datetime,
        latest: datetime,
        now: str,
    ) -> NewFire:
        count, more = cron.count_between(first, latest)
        span = f"{format_ts(first)} to {format_ts(latest)}" if count > 1 else format_ts(latest)
        many = f"more than {count}" if more else str(count)
        missed = f"{many} fire{'s' if count > 1 or more else ''} missed ({span})"
        at = format_ts(latest)
        if schedule.missed == "run_once":
            note = f"{missed}: ran once for the latest"
            return await start_fire(
                self.start, schedule, "cron", at, now, missed_count=count, note=note
            )
        detail = f"{missed}: skipped, as the schedule's missed policy says"
        return NewFire(schedule.id, "cron", at, "skipped", now, detail=detail, missed_count=count)


def _joined(note: str | None, detail: str) -> str:
    return f"{note}; refused: {detail}" if note else detail
