"""The SDK's webhook methods against a real `fabro serve` and a real receiver on 127.0.0.1:
subscribe, read, change, test, the delivery log, redelivery and deletion, sync and async."""

from __future__ import annotations

import asyncio

import pytest
from msgspec import UNSET

from fabro.api.bodies.webhooks import CreatedWebhook, UpdateWebhookRequest, Webhook
from fabro.client import AsyncFabroClient, FabroClient
from fabro.client.errors import NotFoundError
from tests.e2e.serverproc import ServerProcess
from tests.webhooks.receiver import receiver


def test_a_webhook_is_subscribed_tested_redelivered_and_deleted(fabro: FabroClient) -> None:
    with receiver() as hook:
        created = fabro.create_webhook(hook.url, ["run.completed"], labels={"team": "sdk"})
        assert isinstance(created, CreatedWebhook) and created.secret
        hook.secret = created.secret
        assert created.id in [w.id for w in fabro.list_webhooks()]
        read = fabro.get_webhook(created.id)
        assert isinstance(read, Webhook) and not hasattr(read, "secret")
        changed = fabro.update_webhook(
            created.id, UpdateWebhookRequest(event_types=["run.failed"], labels=UNSET)
        )
        assert changed.event_types == ["run.failed"] and changed.labels == {"team": "sdk"}
        ping = fabro.test_webhook(created.id)
        hook.wait_for("the ping", lambda: len(hook.accepted()) == 1)
        [logged] = list(fabro.list_webhook_deliveries(created.id))
        assert logged.id == ping.id and logged.event_type == "ping"
        again = fabro.redeliver_webhook_delivery(created.id, ping.id)
        assert again.id == ping.id  # the same delivery id: receivers dedup on it
        hook.wait_for("the redelivery", lambda: hook.attempts()[ping.id] == 2)
        assert all(item.verified for item in hook.received)
        fabro.delete_webhook(created.id)
        with pytest.raises(NotFoundError):
            fabro.get_webhook(created.id)


def test_the_async_client_has_the_same_methods(server: ServerProcess, token: str) -> None:
    async def use() -> list[str]:
        async with AsyncFabroClient(server.url, token=token, env={}) as fabro:
            created = await fabro.create_webhook("http://127.0.0.1:9/none", ["run.started"])
            ids = [w.id async for w in fabro.list_webhooks()]
            await fabro.delete_webhook(created.id)
            return [created.id, *ids]

    first, *listed = asyncio.run(use())
    assert first in listed
