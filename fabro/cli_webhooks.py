"""`fabro webhooks ...`: the server's webhook subscriptions and their delivery logs, through
the SDK (admin; docs/webhooks.md)."""

from __future__ import annotations

import json
from itertools import islice
from typing import TYPE_CHECKING, Any, cast

import click

from fabro.cli_options import option, print_listing, short_ts
from fabro.cli_runs import client_call, client_options, connection_of
from fabro.webhooks.events import EVENT_TYPES

if TYPE_CHECKING:
    from fabro.api.bodies.webhooks import Webhook, WebhookDelivery, WebhookEventType
    from fabro.client.runs import Output
    from fabro.client.sdk import FabroClient

WEBHOOK_ID = click.argument("webhook_id", metavar="ID", help="The subscription's id.")
JSON = option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


@click.group()
def webhooks() -> None:
    """Subscribe URLs to run events, and read or retry their deliveries (admin)."""


@webhooks.command(name="create")
@click.argument("url", metavar="URL", help="Where fabro POSTs each event (http or https).")
@option(
    "--event",
    "events",
    multiple=True,
    required=True,
    type=click.Choice(EVENT_TYPES),
    help="An event type to send (repeatable).",
)
@option("--workflow", metavar="SLUG", help="Only runs of this registry workflow.")
@option(
    "--label",
    "label_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Only runs carrying this label (repeatable: every one).",
)
@JSON
@client_options()
def webhooks_create(
    url: str,
    events: tuple[str, ...],
    workflow: str | None,
    label_options: tuple[str, ...],
    as_json: bool,
    **params: Any,
) -> None:
    """Subscribe URL to events; prints the signing secret, shown this once."""
    from fabro.workflow.commands import parse_label_options
    from fabro.workflow.errors import WorkflowSourceError

    try:
        labels = parse_label_options(label_options) or None
    except WorkflowSourceError as exc:
        raise click.UsageError(str(exc)) from None

    def create(client: FabroClient, output: Output) -> int:
        types = cast("list[WebhookEventType]", list(events))  # click.Choice checked them
        made = client.create_webhook(url, types, workflow=workflow, labels=labels)
        if as_json:
            output.line(_json(made))
            return 0
        output.line(made.id)
        output.note(f"signing secret (shown only now; keep it for your receiver): {made.secret}")
        return 0

    client_call(connection_of(params), create, usage_on_400=True)


@webhooks.command(name="list")
@JSON
@client_options()
def webhooks_list(as_json: bool, **params: Any) -> None:
    """List the subscriptions (never their secrets)."""

    def show(client: FabroClient, output: Output) -> int:
        return print_listing(
            output,
            list(client.list_webhooks()),
            as_json=as_json,
            header=("ID", "STATE", "EVENTS", "WORKFLOW", "URL"),
            row=lambda h: (h.id, _state(h), ",".join(h.event_types), h.workflow or "-", h.url),
        )

    client_call(connection_of(params), show)


@webhooks.command(name="show")
@WEBHOOK_ID
@client_options()
def webhooks_show(webhook_id: str, **params: Any) -> None:
    """Print one subscription as JSON (its disabled_reason says why it is off)."""
    client_call(connection_of(params), lambda c, o: _print(o, c.get_webhook(webhook_id)))


@webhooks.command(name="enable")
@WEBHOOK_ID
@client_options()
def webhooks_enable(webhook_id: str, **params: Any) -> None:
    """Turn a subscription on again (after it was disabled for failing, or by hand)."""
    client_call(connection_of(params), lambda c, o: _set_enabled(c, o, webhook_id, True))


@webhooks.command(name="disable")
@WEBHOOK_ID
@client_options()
def webhooks_disable(webhook_id: str, **params: Any) -> None:
    """Stop sending to a subscription; its log stays."""
    client_call(connection_of(params), lambda c, o: _set_enabled(c, o, webhook_id, False))


@webhooks.command(name="rm")
@WEBHOOK_ID
@client_options()
def webhooks_rm(webhook_id: str, **params: Any) -> None:
    """Delete a subscription and its delivery log."""

    def remove(client: FabroClient, output: Output) -> int:
        client.delete_webhook(webhook_id)
        output.line(f"{webhook_id}: deleted")
        return 0

    client_call(connection_of(params), remove)


@webhooks.command(name="test")
@WEBHOOK_ID
@client_options()
def webhooks_test(webhook_id: str, **params: Any) -> None:
    """Queue a ping delivery now; prints its delivery id (see `deliveries`)."""

    def ping(client: FabroClient, output: Output) -> int:
        output.line(client.test_webhook(webhook_id).id)
        return 0

    client_call(connection_of(params), ping)


@webhooks.command(name="deliveries")
@WEBHOOK_ID
@option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Newest N only.")
@JSON
@client_options()
def webhooks_deliveries(webhook_id: str, limit: int, as_json: bool, **params: Any) -> None:
    """The delivery log, newest first: status, attempts, last answer or error."""

    def show(client: FabroClient, output: Output) -> int:
        return print_listing(
            output,
            list(islice(client.list_webhook_deliveries(webhook_id), limit)),
            as_json=as_json,
            header=("ID", "CREATED", "EVENT", "STATUS", "ATTEMPTS", "LAST"),
            row=lambda d: (
                d.id,
                short_ts(d.created_at),
                d.event_type,
                d.status,
                str(d.attempts),
                _last(d),
            ),
        )

    client_call(connection_of(params), show)


@webhooks.command(name="redeliver")
@WEBHOOK_ID
@click.argument("delivery_id", metavar="DELIVERY", help="The delivery's id (see `deliveries`).")
@client_options()
def webhooks_redeliver(webhook_id: str, delivery_id: str, **params: Any) -> None:
    """Send a delivery again now, with the same delivery id."""

    def again(client: FabroClient, output: Output) -> int:
        delivery = client.redeliver_webhook_delivery(webhook_id, delivery_id)
        output.line(f"{delivery.id}: {delivery.status}")
        return 0

    client_call(connection_of(params), again)


def _set_enabled(client: FabroClient, output: Output, webhook_id: str, enabled: bool) -> int:
    from fabro.api.bodies.webhooks import UpdateWebhookRequest

    changed = client.update_webhook(webhook_id, UpdateWebhookRequest(enabled=enabled))
    output.line(f"{changed.id}: {_state(changed)}")
    return 0


def _state(webhook: Webhook) -> str:
    return "enabled" if webhook.enabled else "disabled"


def _last(delivery: WebhookDelivery) -> str:
    """The last attempt's answer code, else its error, else "-"."""
    if delivery.response_code is not None:
        return f"HTTP {delivery.response_code}"
    return delivery.error or "-"


def _print(output: Output, value: Any) -> int:
    output.line(_json(value))
    return 0


def _json(value: Any) -> str:
    from fabro.client.api import plain

    return json.dumps(plain(value))
