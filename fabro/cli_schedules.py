"""`fabro schedules ...`: cron schedules of registry workflows and their fires, through the
SDK (operator; docs/api.md, Schedules)."""

from __future__ import annotations

import json
from itertools import islice
from typing import TYPE_CHECKING, Any

import click

from fabro.cli_options import option, print_listing, short_ts
from fabro.cli_runs import client_call, client_options, connection_of

if TYPE_CHECKING:
    from fabro.api.bodies.schedules import Schedule
    from fabro.client.runs import Output
    from fabro.client.sdk import FabroClient

WORKFLOW = click.argument("workflow", metavar="WORKFLOW", help="A registry workflow's name.")
SCHEDULE_ID = click.argument("schedule_id", metavar="ID", help="The schedule's id.")
JSON = option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


@click.group()
def schedules() -> None:
    """Start registry workflows on a cron schedule; pause, trigger and read their fires."""


@schedules.command(name="create")
@WORKFLOW
@click.argument("cron", metavar="CRON", help='Five cron fields, e.g. "0 6 * * 1-5".')
@option("--time-zone", default="UTC", show_default=True, help="The zone CRON is read in.")
@option(
    "--var",
    "var_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Variable of each run (repeatable).",
)
@option("--goal", metavar="TEXT", show_default="the workflow's", help="Goal of each run.")
@option(
    "--label", "label_options", multiple=True, metavar="KEY=VALUE", help="Run label (repeatable)."
)
@option("--title", metavar="TEXT", help="Title of each run.")
@option(
    "--missed",
    type=click.Choice(["skip", "run_once"]),
    default="skip",
    show_default=True,
    help="Fires missed while the server was down: skipped, or run once on restart.",
)
@client_options()
def schedules_create(
    workflow: str,
    cron: str,
    time_zone: str,
    var_options: tuple[str, ...],
    goal: str | None,
    label_options: tuple[str, ...],
    title: str | None,
    missed: str,
    **params: Any,
) -> None:
    """Run WORKFLOW at each fire of CRON; prints the schedule's id and next fire."""
    from fabro.workflow.commands import parse_label_options, parse_var_options
    from fabro.workflow.errors import WorkflowSourceError

    try:
        variables = parse_var_options(var_options) or None
        labels = parse_label_options(label_options) or None
    except WorkflowSourceError as exc:
        raise click.UsageError(str(exc)) from None

    def create(client: FabroClient, output: Output) -> int:
        made = client.create_schedule(
            workflow,
            cron,
            time_zone=time_zone,
            vars=variables,
            goal=goal,
            labels=labels,
            title=title,
            missed=missed,
        )
        output.line(made.id)
        output.note(f"next fire: {short_ts(made.next_fire_at)}")
        return 0

    client_call(connection_of(params), create, usage_on_400=True)


@schedules.command(name="list")
@WORKFLOW
@JSON
@client_options()
def schedules_list(workflow: str, as_json: bool, **params: Any) -> None:
    """List WORKFLOW's schedules with their next fire."""

    def show(client: FabroClient, output: Output) -> int:
        return print_listing(
            output,
            list(client.list_schedules(workflow)),
            as_json=as_json,
            header=("ID", "STATE", "NEXT FIRE", "TIME ZONE", "CRON"),
            row=lambda s: (s.id, _state(s), short_ts(s.next_fire_at), s.time_zone, s.cron),
        )

    client_call(connection_of(params), show)


@schedules.command(name="show")
@WORKFLOW
@SCHEDULE_ID
@client_options()
def schedules_show(workflow: str, schedule_id: str, **params: Any) -> None:
    """Print one schedule as JSON."""

    def show(client: FabroClient, output: Output) -> int:
        output.line(_json(client.get_schedule(workflow, schedule_id)))
        return 0

    client_call(connection_of(params), show)


@schedules.command(name="pause")
@WORKFLOW
@SCHEDULE_ID
@client_options()
def schedules_pause(workflow: str, schedule_id: str, **params: Any) -> None:
    """No fire until unpaused."""
    client_call(
        connection_of(params),
        lambda c, o: _report(o, c.pause_schedule(workflow, schedule_id)),
    )


@schedules.command(name="unpause")
@WORKFLOW
@SCHEDULE_ID
@client_options()
def schedules_unpause(workflow: str, schedule_id: str, **params: Any) -> None:
    """Fire again, from the next fire after now."""
    client_call(
        connection_of(params),
        lambda c, o: _report(o, c.unpause_schedule(workflow, schedule_id)),
    )


@schedules.command(name="trigger")
@WORKFLOW
@SCHEDULE_ID
@client_options()
def schedules_trigger(workflow: str, schedule_id: str, **params: Any) -> None:
    """Start the schedule's run now; prints the run's id."""

    def trigger(client: FabroClient, output: Output) -> int:
        fire = client.trigger_schedule(workflow, schedule_id)
        if fire.run_id is None:
            output.note(f"not started ({fire.status}): {fire.detail or 'no detail'}")
            return 1
        output.line(fire.run_id)
        return 0

    client_call(connection_of(params), trigger)


@schedules.command(name="history")
@WORKFLOW
@SCHEDULE_ID
@option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Newest N only.")
@JSON
@client_options()
def schedules_history(
    workflow: str, schedule_id: str, limit: int, as_json: bool, **params: Any
) -> None:
    """The schedule's fires, newest first: when, how, and the run each started."""

    def show(client: FabroClient, output: Output) -> int:
        return print_listing(
            output,
            list(islice(client.list_schedule_fires(workflow, schedule_id), limit)),
            as_json=as_json,
            header=("SCHEDULED", "KIND", "STATUS", "RUN"),
            row=lambda f: (short_ts(f.scheduled_at), f.kind, f.status, f.run_id or f.detail or "-"),
        )

    client_call(connection_of(params), show)


@schedules.command(name="rm")
@WORKFLOW
@SCHEDULE_ID
@client_options()
def schedules_rm(workflow: str, schedule_id: str, **params: Any) -> None:
    """Delete a schedule and its history (runs it started stay)."""

    def remove(client: FabroClient, output: Output) -> int:
        client.delete_schedule(workflow, schedule_id)
        output.line(f"{schedule_id}: deleted")
        return 0

    client_call(connection_of(params), remove)


def _report(output: Output, schedule: Schedule) -> int:
    output.line(f"{schedule.id}: {_state(schedule)}, next fire {short_ts(schedule.next_fire_at)}")
    return 0


def _state(schedule: Schedule) -> str:
    return "paused" if schedule.paused else "active"


def _json(value: Any) -> str:
    from fabro.client.api import plain

    return json.dumps(plain(value))
