"""The route table's rows for schedules (issue 19), appended to ``fabro.api.routes.ROUTES``.

Schedules belong to a registry workflow: reading them is reading the workflow (viewer);
creating, changing, pausing and triggering them starts runs (operator).
"""

from __future__ import annotations

from fabro.api.bodies.schedules import (
    CreateScheduleRequest,
    PaginatedScheduleFireList,
    PaginatedScheduleList,
    Schedule,
    ScheduleFire,
    UpdateScheduleRequest,
)
from fabro.api.operations import Route
from fabro.governance.roles import Role

_ONE = "/workflows/{name}/schedules/{id}"

SCHEDULE_ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/workflows/{name}/schedules",
        "listWorkflowSchedules",
        "Schedules",
        "Cron schedules of a workflow (fabro)",
        "REAL",
        200,
        PaginatedScheduleList,
        paginated=True,
        role=Role.VIEWER,
    ),
    Route(
        "POST",
        "/workflows/{name}/schedules",
        "createWorkflowSchedule",
        "Schedules",
        "Schedule a workflow's runs (fabro)",
        "REAL",
        201,
        Schedule,
        body=CreateScheduleRequest,
        location=True,
        role=Role.OPERATOR,
    ),
    Route(
        "GET",
        _ONE,
        "retrieveWorkflowSchedule",
        "Schedules",
        "A schedule (fabro)",
        "REAL",
        200,
        Schedule,
        role=Role.VIEWER,
    ),
    Route(
        "PATCH",
        _ONE,
        "updateWorkflowSchedule",
        "Schedules",
        "Change a schedule (fabro)",
        "REAL",
        200,
        Schedule,
        body=UpdateScheduleRequest,
        role=Role.OPERATOR,
    ),
    Route(
        "DELETE",
        _ONE,
        "deleteWorkflowSchedule",
        "Schedules",
        "Delete a schedule and its history (fabro)",
        "REAL",
        204,
        None,
        role=Role.OPERATOR,
    ),
    Route(
        "POST",
        _ONE + "/pause",
        "pauseWorkflowSchedule",
        "Schedules",
        "Pause a schedule: no fire until unpaused (fabro)",
        "REAL",
        200,
        Schedule,
        role=Role.OPERATOR,
    ),
    Route(
        "POST",
        _ONE + "/unpause",
        "unpauseWorkflowSchedule",
        "Schedules",
        "Unpause a schedule from its next fire after now (fabro)",
        "REAL",
        200,
        Schedule,
        role=Role.OPERATOR,
    ),
    Route(
        "POST",
        _ONE + "/trigger",
        "triggerWorkflowSchedule",
        "Schedules",
        "Start the schedule's run now (fabro)",
        "REAL",
        201,
        ScheduleFire,
        location=True,
        role=Role.OPERATOR,
    ),
    Route(
        "GET",
        _ONE + "/history",
        "listWorkflowScheduleFires",
        "Schedules",
        "A schedule's fires, newest first (fabro)",
        "REAL",
        200,
        PaginatedScheduleFireList,
        paginated=True,
        role=Role.VIEWER,
    ),
)
