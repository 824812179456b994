"""Schedules over HTTP (issue 19): cron schedules of a registry workflow, their pause, a run
now, and the history of their fires; and the server's way of starting a fire's run.

A fire starts its run with `submit_run`, the code behind `POST /runs` (same preparation,
validation, policy check and Idempotency-Key handling), as the schedule's creator.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from msgspec import UNSET
from quart import Quart, Response
from ulid import ULID

from fabro.api.bodies.runs import StartRunRequest
from fabro.api.bodies.schedules import (
    CreateScheduleRequest,
    PaginatedScheduleFireList,
    PaginatedScheduleList,
    Schedule,
    ScheduleFire,
    UpdateScheduleRequest,
    check_cron,
)
from fabro.api.context import Handler, principal, services
from fabro.api.pagination import page_params
from fabro.api.request import read_body
from fabro.api.respond import json_response
from fabro.api.runs import submit_run
from fabro.clock import format_ts
from fabro.errors import Conflict, NotFound, UnprocessableEntity
from fabro.schedules.ticker import FireStarter, start_fire
from fabro.storage.schedules import FireRecord, ScheduleRecord
from fabro.workflow.registry import RegistryWorkflow, read_workflow

# Schedules one workflow may have: each costs a row read at every tick it is due.
MAX_SCHEDULES_PER_WORKFLOW = 100


def new_schedule_id() -> str:
    return str(ULID())


async def start_scheduled_run(schedule: ScheduleRecord, key: str) -> str:
    """Start (or find, by ``key``) the run of a fire in the current app context; its id."""
    body = StartRunRequest(
        workflow=schedule.workflow,
        goal=schedule.goal,
        vars=dict(schedule.vars),
        labels=dict(schedule.labels),
        title=schedule.title,
    )
    # What the key is checked against: the same for every attempt at one fire, whatever
    # the schedule became meanwhile, so a retried fire finds its run instead of a 409.
    raw: dict[str, Any] = {"schedule": schedule.id, "key": key}
    run, _ = await submit_run(body, raw, schedule.created_by, key)
    return run.id


def fire_starter(app: Quart) -> FireStarter:
    """How the server's ticker starts a fire's run: `start_scheduled_run` in ``app``."""

    async def start(schedule: ScheduleRecord, key: str) -> str:
        async with app.app_context():
            return await start_scheduled_run(schedule, key)

    return start


async def _workflow_or_404(name: str) -> RegistryWorkflow:
    found = await asyncio.to_thread(read_workflow, services().settings.workflows_dir, name)
    if found is None:
        raise NotFound("Workflow not found.")
    return found


async def _schedule_or_404(name: str, id: str) -> ScheduleRecord:
    workflow = await _workflow_or_404(name)
    schedule = await services().schedules.get(id)
    if schedule is None or schedule.workflow != workflow.slug:
        raise NotFound("Schedule not found.")
    return schedule


def _now() -> datetime:
    return datetime.now(UTC)


async def list_schedules(name: str) -> PaginatedScheduleList:
    params = page_params()
    workflow = await _workflow_or_404(name)
    page = await services().schedules.list_for_workflow(
        workflow.slug, limit=params.limit, offset=params.offset
    )
    return PaginatedScheduleList.of([Schedule.from_record(s) for s in page.items], page.has_more)


async def create_schedule(name: str) -> Response:
    record = await add_schedule(name, await read_body(CreateScheduleRequest), principal().login)
    location = f"/workflows/{record.workflow}/schedules/{record.id}"
    return json_response(Schedule.from_record(record), 201, {"Location": location})


async def add_schedule(name: str, body: CreateScheduleRequest, login: str) -> ScheduleRecord:
    """Schedule runs of workflow ``name`` as ``login`` (the API's and the UI's one way)."""
    workflow = await _workflow_or_404(name)
    store = services().schedules
    if await store.count_for_workflow(workflow.slug) >= MAX_SCHEDULES_PER_WORKFLOW:
        raise Conflict(f"A workflow has at most {MAX_SCHEDULES_PER_WORKFLOW} schedules.")
    cron = check_cron(body.cron, body.time_zone)
    now = _now()
    stamp = format_ts(now)
    return await store.create(
        ScheduleRecord(
            id=new_schedule_id(),
            workflow=workflow.slug,
            cron=cron.expression,
            time_zone=body.time_zone,
            vars=dict(body.vars or {}),
            labels=dict(body.labels or {}),
            goal=body.goal,
            title=body.title,
            missed=body.missed,
            paused=False,
            created_by=login,
            created_at=stamp,
            updated_at=stamp,
            next_fire_at=format_ts(cron.next_after(now)),
        )
    )


async def retrieve_schedule(name: str, id: str) -> Schedule:
    return Schedule.from_record(await _schedule_or_404(name, id))


async def update_schedule(name: str, id: str) -> Schedule:
    body = await read_body(UpdateScheduleRequest)
    current = await _schedule_or_404(name, id)
    changes = {
        field: getattr(body, field)
        for field in ("cron", "time_zone", "vars", "goal", "labels", "title", "missed")
        if getattr(body, field) is not UNSET
    }
    if "cron" in changes or "time_zone" in changes:
        cron = check_cron(
            changes.get("cron", current.cron), changes.get("time_zone", current.time_zone)
        )
        changes["cron"] = cron.expression
        changes["next_fire_at"] = format_ts(cron.next_after(_now()))
    return await _changed(current, changes)


async def _changed(current: ScheduleRecord, changes: dict[str, Any]) -> Schedule:
    updated = await services().schedules.update(current.id, changes, format_ts(_now()))
    if updated is None:
        raise NotFound("Schedule not found.")
    return Schedule.from_record(updated)


async def delete_schedule(name: str, id: str) -> Response:
    await remove_schedule(name, id)
    return Response(status=204)


async def remove_schedule(name: str, id: str) -> None:
    current = await _schedule_or_404(name, id)
    if not await services().schedules.delete(current.id):
        raise NotFound("Schedule not found.")


async def pause_schedule(name: str, id: str) -> Schedule:
    current = await _schedule_or_404(name, id)
    return await _changed(current, {"paused": True})


async def unpause_schedule(name: str, id: str) -> Schedule:
    """Fires that fell while it was paused are not run: the next one is after now."""
    current = await _schedule_or_404(name, id)
    if not current.paused:
        return Schedule.from_record(current)
    cron = check_cron(current.cron, current.time_zone)
    return await _changed(
        current, {"paused": False, "next_fire_at": format_ts(cron.next_after(_now()))}
    )


async def trigger_schedule(name: str, id: str) -> Response:
    fire = await trigger(name, id)
    body = ScheduleFire.from_record(fire)
    return json_response(body, 201, {"Location": f"/runs/{fire.run_id}"})


async def trigger(name: str, id: str) -> FireRecord:
    """A run now, with the schedule's vars, goal, labels and title (paused or not); 422 with
    the reason when it is refused (recorded in the history all the same)."""
    schedule = await _schedule_or_404(name, id)
    now = format_ts(_now())
    fire = await start_fire(start_scheduled_run, schedule, "trigger", now, now)
    await services().schedules.record_fire(fire)
    if fire.status == "refused":
        raise UnprocessableEntity(f"The run was refused: {fire.detail}")
    recorded = await services().schedules.get_fire(schedule.id, "trigger", now)
    if recorded is None:  # deleted while its run was starting
        raise NotFound("Schedule not found.")
    return recorded


async def schedule_history(name: str, id: str) -> PaginatedScheduleFireList:
    params = page_params()
    schedule = await _schedule_or_404(name, id)
    page = await services().schedules.history(schedule.id, limit=params.limit, offset=params.offset)
    return PaginatedScheduleFireList.of(
        [ScheduleFire.from_record(fire) for fire in page.items], page.has_more
    )


HANDLERS: dict[str, Handler] = {
    "listWorkflowSchedules": list_schedules,
    "createWorkflowSchedule": create_schedule,
    "retrieveWorkflowSchedule": retrieve_schedule,
    "updateWorkflowSchedule": update_schedule,
    "deleteWorkflowSchedule": delete_schedule,
    "pauseWorkflowSchedule": pause_schedule,
    "unpauseWorkflowSchedule": unpause_schedule,
    "triggerWorkflowSchedule": trigger_schedule,
    "listWorkflowScheduleFires": schedule_history,
}
