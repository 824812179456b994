"""Webhooks over HTTP (issue 19): admins create, list, change, delete and test subscriptions,
read a subscription's delivery log and send a delivery again."""

from __future__ import annotations

from msgspec import UNSET
from quart import Response

from fabro.api.bodies.webhooks import (
    CreatedWebhook,
    CreateWebhookRequest,
    PaginatedWebhookDeliveryList,
    PaginatedWebhookList,
    UpdateWebhookRequest,
    Webhook,
    WebhookDelivery,
)
from fabro.api.context import Handler, principal, services
from fabro.api.pagination import page_params
from fabro.api.request import read_body
from fabro.api.respond import json_response
from fabro.errors import BadRequest, NotFound
from fabro.storage.webhooks import WebhookChanges, WebhookRecord
from fabro.webhooks.service import Subscription
from fabro.webhooks.urls import url_problem


def _checked_url(url: str) -> str:
    problem = url_problem(url.strip())
    if problem is not None:
        raise BadRequest(f"Field 'url' {problem}.")
    return url.strip()


def _types(event_types: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(event_types))  # in the order given, once each


async def _webhook_or_404(id: str) -> WebhookRecord:
    record = await services().webhooks.get(id)
    if record is None:
        raise NotFound("Webhook not found.")
    return record


async def create_webhook() -> Response:
    body = await read_body(CreateWebhookRequest)
    record, secret = await services().webhooks.create(
        Subscription(
            url=_checked_url(body.url),
            event_types=_types(list(body.event_types)),
            workflow=body.workflow or None,
            labels=dict(body.labels or {}),
            created_by=principal().login,
        )
    )
    plain = Webhook.from_record(record)
    created = CreatedWebhook(
        **{f: getattr(plain, f) for f in plain.__struct_fields__}, secret=secret
    )
    return json_response(created, 201, {"Location": f"/webhooks/{record.id}"})


async def list_webhooks() -> PaginatedWebhookList:
    params = page_params()
    page = await services().webhooks.list(limit=params.limit, offset=params.offset)
    return PaginatedWebhookList.of([Webhook.from_record(r) for r in page.items], page.has_more)


async def retrieve_webhook(id: str) -> Webhook:
    return Webhook.from_record(await _webhook_or_404(id))


async def update_webhook(id: str) -> Webhook:
    body = await read_body(UpdateWebhookRequest)
    changes = WebhookChanges(
        url=None if body.url is UNSET else _checked_url(body.url),
        event_types=None if body.event_types is UNSET else _types(list(body.event_types)),
        workflow=None if body.workflow is UNSET else body.workflow,
        labels=None if body.labels is UNSET else dict(body.labels),
        enabled=None if body.enabled is UNSET else body.enabled,
    )
    record = await services().webhooks.update(id, changes)
    if record is None:
        raise NotFound("Webhook not found.")
    return Webhook.from_record(record)


async def delete_webhook(id: str) -> Response:
    if not await services().webhooks.delete(id):
        raise NotFound("Webhook not found.")
    return Response(status=204)


async def test_webhook(id: str) -> Response:
    delivery = await services().webhooks.ping(id)
    if delivery is None:
        raise NotFound("Webhook not found.")
    return json_response(WebhookDelivery.from_record(delivery), 202)


async def list_webhook_deliveries(id: str) -> PaginatedWebhookDeliveryList:
    record = await _webhook_or_404(id)
    params = page_params()
    page = await services().webhooks.deliveries(record.id, limit=params.limit, offset=params.offset)
    items = [WebhookDelivery.from_record(d) for d in page.items]
    return PaginatedWebhookDeliveryList.of(items, page.has_more)


async def redeliver_webhook_delivery(id: str, delivery_id: str) -> Response:
    await _webhook_or_404(id)
    delivery = await services().webhooks.redeliver(id, delivery_id)
    if delivery is None:
        raise NotFound("Delivery not found.")
    return json_response(WebhookDelivery.from_record(delivery), 202)


HANDLERS: dict[str, Handler] = {
    "createWebhook": create_webhook,
    "listWebhooks": list_webhooks,
    "retrieveWebhook": retrieve_webhook,
    "updateWebhook": update_webhook,
    "deleteWebhook": delete_webhook,
    "testWebhook": test_webhook,
    "listWebhookDeliveries": list_webhook_deliveries,
    "redeliverWebhookDelivery": redeliver_webhook_delivery,
}
