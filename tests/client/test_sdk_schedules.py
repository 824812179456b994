"""The SDK's schedule methods against a real `fabro serve`: create, read, change, pause,
trigger, history and delete, with typed results and typed errors."""

from __future__ import annotations

import pytest

from fabro.api.bodies.schedules import Schedule, ScheduleFire, UpdateScheduleRequest
from fabro.client import FabroClient
from fabro.client.errors import BadRequestError, NotFoundError


def test_a_schedule_from_creation_to_deletion(fabro: FabroClient) -> None:
    created = fabro.create_schedule(
        "gate", "15 8 * * 1-5", time_zone="Europe/Paris", vars={"env": "prod"}, missed="run_once"
    )
    assert isinstance(created, Schedule) and created.missed == "run_once"
    assert [s.id for s in fabro.list_schedules("gate")] == [created.id]
    assert fabro.get_schedule("gate", created.id) == created

    changed = fabro.update_schedule("gate", created.id, UpdateScheduleRequest(title="Weekdays"))
    assert changed.title == "Weekdays" and changed.cron == "15 8 * * 1-5"
    assert fabro.pause_schedule("gate", created.id).next_fire_at is None
    assert fabro.unpause_schedule("gate", created.id).next_fire_at is not None

    fire = fabro.trigger_schedule("gate", created.id)
    assert isinstance(fire, ScheduleFire) and fire.status == "started" and fire.run_id
    assert fabro.get_run(fire.run_id).id == fire.run_id
    assert [f.run_id for f in fabro.list_schedule_fires("gate", created.id)] == [fire.run_id]
    fabro.cancel_run(fire.run_id)

    fabro.delete_schedule("gate", created.id)
    with pytest.raises(NotFoundError, match="Schedule not found"):
        fabro.get_schedule("gate", created.id)


def test_errors_come_back_typed(fabro: FabroClient) -> None:
    with pytest.raises(BadRequestError, match="'cron'"):
        fabro.create_schedule("gate", "every day")
    with pytest.raises(BadRequestError, match="'time_zone'"):
        fabro.create_schedule("gate", "@daily", time_zone="Atlantis/Capital")
    with pytest.raises(NotFoundError, match="Workflow not found"):
        fabro.create_schedule("no-such-flow", "@daily")
