"""Bodies of schedules (issue 19): cron schedules of registry workflows and their fires."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from msgspec import UNSET, Meta, UnsetType

from fabro.api.bodies.common import Body, Page
from fabro.api.bodies.runs import LabelKey, LabelValue, Title
from fabro.errors import BadRequest
from fabro.schedules.cron import MAX_CRON_CHARS, Cron, CronError, zone
from fabro.storage.schedules import FireRecord, ScheduleRecord

Missed = Literal["skip", "run_once"]
CronText = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=MAX_CRON_CHARS,
        description="Five cron fields (minute hour day month weekday) or a macro (@daily),"
        " read in time_zone.",
    ),
]
ZoneName = Annotated[
    str, Meta(min_length=1, max_length=64, description="An IANA time zone (Europe/Paris).")
]
VarsMap = Annotated[dict[str, str], Meta(max_length=100)]
LabelsMap = Annotated[dict[LabelKey, LabelValue], Meta(max_length=50)]
Goal = Annotated[str, Meta(max_length=10_000)]


def check_cron(cron: str, time_zone: str) -> Cron:
    """The schedule's cron in its zone; a 400 naming the field otherwise."""
    try:
        zone(time_zone)
    except CronError as error:
        raise BadRequest(f"Field 'time_zone': {error}.") from None
    try:
        return Cron.parse(cron, time_zone)
    except CronError as error:
        raise BadRequest(f"Field 'cron': {error}.") from None


class CreateScheduleRequest(Body):
    """A cron schedule of a registry workflow: its runs get these vars, goal, labels, title."""

    cron: CronText
    time_zone: ZoneName = "UTC"
    vars: VarsMap | None = None
    goal: Goal | None = None
    labels: LabelsMap | None = None
    title: Title | None = None
    missed: Missed = "skip"  # fires missed while the server was down: skip, or run once

    SCHEMA_EXTRA: ClassVar[dict[str, Any]] = {
        "examples": [
            {"cron": "0 9 * * 1-5", "time_zone": "Europe/Paris", "vars": {"repo": "api"}},
            {"cron": "@hourly", "missed": "run_once"},
        ]
    }

    def __post_init__(self) -> None:
        check_cron(self.cron, self.time_zone)


class UpdateScheduleRequest(Body):
    """The fields to change; absent ones stay, a null goal or title clears it."""

    cron: CronText | UnsetType = UNSET
    time_zone: ZoneName | UnsetType = UNSET
    vars: VarsMap | UnsetType = UNSET
    goal: Goal | UnsetType | None = UNSET
    labels: LabelsMap | UnsetType = UNSET
    title: Title | UnsetType | None = UNSET
    missed: Missed | UnsetType = UNSET


class Schedule(Body):
    """A schedule; ``next_fire_at`` is null while it is paused."""

    id: str
    workflow: str
    cron: str
    time_zone: str
    vars: dict[str, str]
    goal: str | None
    labels: dict[str, str]
    title: str | None
    missed: Missed
    paused: bool
    created_by: str  # the runs are started as this login
    created_at: str
    updated_at: str
    next_fire_at: str | None
    last_fire_at: str | None

    @classmethod
    def from_record(cls, record: ScheduleRecord) -> Schedule:
        return cls(
            id=record.id,
            workflow=record.workflow,
            cron=record.cron,
            time_zone=record.time_zone,
            vars=record.vars,
            goal=record.goal,
            labels=record.labels,
            title=record.title,
            missed=record.missed,
            paused=record.paused,
            created_by=record.created_by,
            created_at=record.created_at,
            updated_at=record.updated_at,
            next_fire_at=None if record.paused else record.next_fire_at,
            last_fire_at=record.last_fire_at,
        )


class PaginatedScheduleList(Page[Schedule]):
    pass


class ScheduleFire(Body):
    """A fire: a run started, refused (and why), or missed fires skipped (and how many)."""

    seq: int
    schedule_id: str
    kind: Literal["cron", "trigger"]
    scheduled_at: str
    status: Literal["started", "refused", "skipped"]
    run_id: str | None
    detail: str | None
    missed_count: int  # fires missed while the server was down that this row stands for
    recorded_at: str

    @classmethod
    def from_record(cls, record: FireRecord) -> ScheduleFire:
        return cls(
            seq=record.seq,
            schedule_id=record.schedule_id,
            kind=record.kind,
            scheduled_at=record.scheduled_at,
            status=record.status,
            run_id=record.run_id,
            detail=record.detail,
            missed_count=record.missed_count,
            recorded_at=record.recorded_at,
        )


class PaginatedScheduleFireList(Page[ScheduleFire]):
    pass
