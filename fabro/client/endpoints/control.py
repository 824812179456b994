"""The server's control plane: cron schedules of registry workflows, webhook subscriptions
and their deliveries, and the secrets vault."""

from __future__ import annotations

from fabro.api.bodies.schedules import (
    PaginatedScheduleFireList,
    PaginatedScheduleList,
    Schedule,
    ScheduleFire,
    UpdateScheduleRequest,
)
from fabro.api.bodies.secrets import (
    PaginatedSecretList,
    SecretItem,
    SecretRotation,
    SetSecretRequest,
)
from fabro.api.bodies.webhooks import (
    CreatedWebhook,
    CreateWebhookRequest,
    PaginatedWebhookDeliveryList,
    PaginatedWebhookList,
    UpdateWebhookRequest,
    Webhook,
    WebhookDelivery,
    WebhookEventType,
)
from fabro.client.calls import Call, PagedCall
from fabro.client.endpoints.shared import JsonObject, once, segment
from fabro.client.methods import endpoint, paged


def _schedules(workflow: str, *rest: str) -> str:
    """``/workflows/{name}/schedules[/{id}[/action]]``: the first of ``rest`` is an id."""
    parts = [segment(rest[0]), *rest[1:]] if rest else []
    return "/".join(("/workflows", segment(workflow), "schedules", *parts))


class ControlEndpoints:
    """Schedules, webhooks and secrets (operator and admin routes)."""

    # ---- schedules -----------------------------------------------------------------------

    @paged
    def list_schedules(self, workflow: str) -> PagedCall[Schedule]:
        """`GET /workflows/{name}/schedules`: a registry workflow's cron schedules."""
        return PagedCall(_schedules(workflow), PaginatedScheduleList)

    @endpoint
    def create_schedule(
        self,
        workflow: str,
        cron: str,
        *,
        time_zone: str = "UTC",
        vars: dict[str, str] | None = None,
        goal: str | None = None,
        labels: dict[str, str] | None = None,
        title: str | None = None,
        missed: str = "skip",
        idempotency_key: str | None = None,
    ) -> Call[Schedule]:
        """`POST /workflows/{name}/schedules` (operator): runs of ``workflow`` at each fire
        of ``cron`` in ``time_zone``; ``missed`` ("skip" or "run_once") says what becomes of
        fires missed while the server was down. The server checks the cron and the zone."""
        body: JsonObject = {"cron": cron, "time_zone": time_zone, "missed": missed}
        optional = {"vars": vars, "goal": goal, "labels": labels, "title": title}
        body.update({name: value for name, value in optional.items() if value is not None})
        return Call(
            "POST",
            _schedules(workflow),
            Schedule,
            body=body,
            headers=once(idempotency_key),
            retry_safe=True,
        )

    @endpoint
    def get_schedule(self, workflow: str, schedule_id: str) -> Call[Schedule]:
        """`GET /workflows/{name}/schedules/{id}`: a schedule and its next fire."""
        return Call("GET", _schedules(workflow, schedule_id), Schedule, retry_safe=True)

    @endpoint
    def update_schedule(
        self, workflow: str, schedule_id: str, changes: UpdateScheduleRequest
    ) -> Call[Schedule]:
        """`PATCH /workflows/{name}/schedules/{id}` (operator): the fields ``changes`` sets
        (a None goal or title clears it)."""
        path = _schedules(workflow, schedule_id)
        return Call("PATCH", path, Schedule, body=changes, retry_safe=True)

    @endpoint
    def delete_schedule(self, workflow: str, schedule_id: str) -> Call[None]:
        """`DELETE /workflows/{name}/schedules/{id}` (operator): a schedule and its history."""
        return Call("DELETE", _schedules(workflow, schedule_id), None)

    @endpoint
    def pause_schedule(self, workflow: str, schedule_id: str) -> Call[Schedule]:
        """`POST /workflows/{name}/schedules/{id}/pause` (operator): no fire until unpaused."""
        path = _schedules(workflow, schedule_id, "pause")
        return Call("POST", path, Schedule, headers=once(), retry_safe=True)

    @endpoint
    def unpause_schedule(self, workflow: str, schedule_id: str) -> Call[Schedule]:
        """`POST /workflows/{name}/schedules/{id}/unpause` (operator): fires again from the
        next after now."""
        path = _schedules(workflow, schedule_id, "unpause")
        return Call("POST", path, Schedule, headers=once(), retry_safe=True)

    @endpoint
    def trigger_schedule(
        self, workflow: str, schedule_id: str, *, idempotency_key: str | None = None
    ) -> Call[ScheduleFire]:
        """`POST /workflows/{name}/schedules/{id}/trigger` (operator): the schedule's run, now."""
        path = _schedules(workflow, schedule_id, "trigger")
        return Call("POST", path, ScheduleFire, headers=once(idempotency_key), retry_safe=True)

    @paged
    def list_schedule_fires(self, workflow: str, schedule_id: str) -> PagedCall[ScheduleFire]:
        """`GET /workflows/{name}/schedules/{id}/history`: the schedule's fires, newest first."""
        path = _schedules(workflow, schedule_id, "history")
        return PagedCall(path, PaginatedScheduleFireList)

    # ---- webhooks ------------------------------------------------------------------------

    @endpoint
    def create_webhook(
        self,
        url: str,
        event_types: list[WebhookEventType],
        *,
        workflow: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> Call[CreatedWebhook]:
        """`POST /webhooks` (admin): subscribe ``url`` to ``event_types`` (of ``workflow``'s
        runs, of runs carrying every one of ``labels``). The answer holds the signing
        ``secret``, shown this once (docs/webhooks.md)."""
        body = CreateWebhookRequest(
            url=url, event_types=event_types, workflow=workflow, labels=labels
        )
        return Call("POST", "/webhooks", CreatedWebhook, body=body, headers=once(), retry_safe=True)

    @paged
    def list_webhooks(self) -> PagedCall[Webhook]:
        """`GET /webhooks` (admin): the subscriptions, never their secrets."""
        return PagedCall("/webhooks", PaginatedWebhookList)

    @endpoint
    def get_webhook(self, webhook_id: str) -> Call[Webhook]:
        """`GET /webhooks/{id}` (admin): a subscription (``disabled_reason`` says why it is
        off)."""
        return Call("GET", f"/webhooks/{segment(webhook_id)}", Webhook, retry_safe=True)

    @endpoint
    def update_webhook(self, webhook_id: str, changes: UpdateWebhookRequest) -> Call[Webhook]:
        """`PATCH /webhooks/{id}` (admin): the fields ``changes`` sets (``enabled=True``
        turns a disabled subscription back on)."""
        path = f"/webhooks/{segment(webhook_id)}"
        return Call("PATCH", path, Webhook, body=changes, retry_safe=True)

    @endpoint
    def delete_webhook(self, webhook_id: str) -> Call[None]:
        """`DELETE /webhooks/{id}` (admin): the subscription and its delivery log."""
        return Call("DELETE", f"/webhooks/{segment(webhook_id)}", None)

    @endpoint
    def test_webhook(self, webhook_id: str) -> Call[WebhookDelivery]:
        """`POST /webhooks/{id}/test` (admin): queue a ``ping`` delivery now."""
        path = f"/webhooks/{segment(webhook_id)}/test"
        return Call("POST", path, WebhookDelivery, headers=once(), retry_safe=True)

    @paged
    def list_webhook_deliveries(self, webhook_id: str) -> PagedCall[WebhookDelivery]:
        """`GET /webhooks/{id}/deliveries` (admin): the delivery log, newest first."""
        path = f"/webhooks/{segment(webhook_id)}/deliveries"
        return PagedCall(path, PaginatedWebhookDeliveryList)

    @endpoint
    def redeliver_webhook_delivery(
        self, webhook_id: str, delivery_id: str
    ) -> Call[WebhookDelivery]:
        """`POST /webhooks/{id}/deliveries/{delivery_id}/redeliver` (admin): send it again
        now, with the same delivery id."""
        path = f"/webhooks/{segment(webhook_id)}/deliveries/{segment(delivery_id)}/redeliver"
        return Call("POST", path, WebhookDelivery, headers=once(), retry_safe=True)

    # ---- secrets -------------------------------------------------------------------------

    @endpoint
    def set_secret(self, name: str, value: str) -> Call[SecretItem]:
        """`PUT /secrets/{name}` (admin): set a secret (at least 8 characters); its name and
        dates come back, never its value. Retried safely: setting it twice is setting it."""
        body = SetSecretRequest(value=value)
        return Call("PUT", f"/secrets/{segment(name)}", SecretItem, body=body, retry_safe=True)

    @paged
    def list_secrets(self) -> PagedCall[SecretItem]:
        """`GET /secrets` (admin): every secret's name and dates, by name."""
        return PagedCall("/secrets", PaginatedSecretList)

    @endpoint
    def delete_secret(self, name: str) -> Call[None]:
        """`DELETE /secrets/{name}` (admin): forget a secret (NotFoundError if it is not set)."""
        return Call("DELETE", f"/secrets/{segment(name)}", None)

    @endpoint
    def rotate_secrets(self) -> Call[SecretRotation]:
        """`POST /secrets/rotate` (admin): a new key, every value re-sealed under it in one
        transaction; how many, and the new key's id."""
        return Call("POST", "/secrets/rotate", SecretRotation, headers=once(), retry_safe=True)
