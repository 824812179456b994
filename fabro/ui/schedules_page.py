"""A workflow's schedules page: its cron schedules with their next fire (shown in the
viewer's time zone by common.js), pause, unpause, a run now and delete for operators, the
last fires of each, and a form to add one.

The page acts through the functions behind the schedules API (fabro/api/schedules.py), so
the checks, the 400s naming a field and the history are the same.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from quart import Response, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue

from fabro.api.bodies.schedules import CreateScheduleRequest
from fabro.api.context import services
from fabro.api.request import as_body
from fabro.api.schedules import add_schedule, pause_schedule, remove_schedule, trigger
from fabro.api.schedules import unpause_schedule as unpause
from fabro.errors import BadRequest, Conflict, NotFound
from fabro.storage.schedules import FireRecord
from fabro.ui.auth import signed_in
from fabro.ui.blueprint import ui
from fabro.ui.new_run import parse_pairs
from fabro.workflow.registry import read_workflow

ACTIONS: Final = ("pause", "unpause", "trigger", "delete")
FIRES_SHOWN: Final = 10  # the last fires under each schedule; the API has them all
FORM_FIELDS: Final = ("cron", "time_zone", "missed", "title", "goal", "variables", "labels")


async def _page(
    name: str, *, form: dict[str, str] | None = None, error: str | None = None, status: int = 200
) -> Response:
    workflow = await asyncio.to_thread(read_workflow, services().settings.workflows_dir, name)
    if workflow is None:
        raise NotFound("Workflow not found.")
    store = services().schedules
    page = await store.list_for_workflow(workflow.slug, limit=100, offset=0)
    fires: dict[str, list[FireRecord]] = {}
    for schedule in page.items:
        history = await store.history(schedule.id, limit=FIRES_SHOWN, offset=0)
        fires[schedule.id] = history.items
    body = await render_template(
        "schedules.html",
        workflow=workflow,
        name=workflow.display_name(None),
        schedules=page.items,
        fires=fires,
        form=form or {**dict.fromkeys(FORM_FIELDS, ""), "time_zone": "UTC", "missed": "skip"},
        error=error,
    )
    return Response(body, status, mimetype="text/html")


@ui.route("/workflows/<name>/schedules", methods=["GET"], endpoint="schedules")
async def schedules_page(name: str) -> Response:
    return await _page(name)


def _request(form: dict[str, str]) -> dict[str, Any]:
    """The `POST /workflows/{name}/schedules` body the form stands for."""
    raw: dict[str, Any] = {
        "cron": form["cron"].strip(),
        "time_zone": form["time_zone"].strip() or "UTC",
        "missed": form["missed"] or "skip",
    }
    for field in ("title", "goal"):
        if form[field].strip():
            raw[field] = form[field].strip()
    if variables := parse_pairs(form["variables"], "Variables"):
        raw["vars"] = variables
    if labels := parse_pairs(form["labels"], "Labels"):
        raw["labels"] = labels
    return raw


@ui.route("/workflows/<name>/schedules", methods=["POST"], endpoint="add_schedule")
async def add_schedule_form(name: str) -> ResponseReturnValue:
    sent = await request.form
    form = {field: str(sent.get(field, "")) for field in FORM_FIELDS}
    try:
        body = as_body(_request(form), CreateScheduleRequest)
        await add_schedule(name, body, signed_in().login)
    except (BadRequest, Conflict) as refused:
        return await _page(name, form=form, error=refused.detail, status=refused.status)
    return redirect(url_for("ui.schedules", name=name), 303)


@ui.route(
    "/workflows/<name>/schedules/<schedule_id>/<action>",
    methods=["POST"],
    endpoint="schedule_action",
)
async def schedule_action(name: str, schedule_id: str, action: str) -> ResponseReturnValue:
    """Pause, unpause, delete (back to the page) or trigger (on to the new run's page)."""
    if action not in ACTIONS:
        raise NotFound("No such schedule action.")
    if action == "trigger":
        fire = await trigger(name, schedule_id)
        return redirect(url_for("ui.run_page", run_id=fire.run_id), 303)
    if action == "pause":
        await pause_schedule(name, schedule_id)
    elif action == "unpause":
        await unpause(name, schedule_id)
    else:
        await remove_schedule(name, schedule_id)
    return redirect(url_for("ui.schedules", name=name), 303)
