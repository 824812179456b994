"""Webhooks delivered by a real server's services (real engine, real SQLite) to a real receiver
on 127.0.0.1 that checks each signature with the snippet of docs/webhooks.md."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from quart.typing import TestClientProtocol as Client

from fabro.services import Services
from fabro.webhooks.events import EVENT_TYPES
from fabro.webhooks.retry import RetryPolicy
from fabro.webhooks.sealing import KeyFileSealer
from fabro.webhooks.signing import signature_header
from tests.api.internals_helpers import FAILING
from tests.api.runs_helpers import LINEAR, start, wait_for
from tests.webhooks.receiver import DROP, Receiver, documented_verify, receiver

ALL_TYPES = list(EVENT_TYPES)
FAST = RetryPolicy(first_retry_s=0.05, max_retry_s=0.2)


async def until(what: str, probe: Callable[[], Any], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not probe():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def subscribe(
    client: Client, headers: dict[str, str], hook: Receiver, **extra: Any
) -> dict[str, Any]:
    body = {"url": hook.url, "event_types": ALL_TYPES, **extra}
    answer = await client.post("/webhooks", json=body, headers=headers)
    assert answer.status_code == 201, await answer.get_data(as_text=True)
    created: dict[str, Any] = await answer.get_json()
    hook.secret = created["secret"]
    return created


def types_of(hook: Receiver) -> list[str]:
    return [json.loads(item.body)["type"] for item in hook.accepted()]


async def test_a_run_s_events_arrive_signed_once_each(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    # No poll within the test: the run bus alone must wake the dispatcher.
    services.webhooks.dispatcher.poll_s = 600
    services.webhooks.dispatcher.wake()
    with receiver() as hook:
        await subscribe(client, auth_headers, hook)
        run = await start(client, auth_headers, LINEAR)
        await wait_for(client, auth_headers, run["id"], {"completed"})
        # Deliveries may arrive in any order (docs/webhooks.md): wait for both; `seq` says how
        # they happened.
        both = {"run.started", "run.completed"}
        await until("run.started and run.completed", lambda: both <= set(types_of(hook)))
        bodies = [json.loads(item.body) for item in hook.accepted()]
        run_events = sorted(
            (b for b in bodies if b["type"].startswith("run.")), key=lambda b: b["data"]["seq"]
        )
        assert [b["type"] for b in run_events] == [
            "run.started",
            "run.completed",
        ]
        assert all(item.verified for item in hook.received)
        assert len({b["id"] for b in bodies}) == len(bodies) == len(hook.received)
        first = hook.accepted()[0]
        assert first.headers["Content-Type"] == "application/json"
        assert first.headers["Fabro-Signature"].startswith(f"t={first.headers['Fabro-Timestamp']},")
        started = next(b for b in bodies if b["type"] == "run.started")
        assert started["data"]["run_id"] == run["id"]
        assert started["data"]["variant"] == "WorkflowRunStarted"
        assert set(started) == {"id", "type", "created_at", "data"}


async def test_retries_after_a_500_and_a_dropped_connection(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    services.webhooks.sender.policy = FAST
    answers = {1: 500, 2: DROP}
    with receiver(lambda _id, n: answers.get(n, 200)) as hook:
        created = await subscribe(client, auth_headers, hook)
        sent = await client.post(f"/webhooks/{created['id']}/test", headers=auth_headers)
        assert sent.status_code == 202
        delivery = await sent.get_json()
        await until("the third attempt", lambda: hook.accepted())
        assert [r.answered for r in hook.received] == [500, DROP, 200]
        assert {r.delivery_id for r in hook.received} == {delivery["id"]}  # stable id
        assert all(r.verified for r in hook.received)
        log = await client.get(f"/webhooks/{created['id']}/deliveries", headers=auth_headers)
        [logged] = (await log.get_json())["data"]
        await until("the log", lambda: True)
        assert logged["id"] == delivery["id"] and logged["event_type"] == "ping"


async def test_the_delivery_log_shows_each_delivery_s_last_attempt(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    services.webhooks.sender.policy = FAST
    with receiver(lambda _id, n: 500 if n == 1 else 200) as hook:
        created = await subscribe(client, auth_headers, hook)
        await client.post(f"/webhooks/{created['id']}/test", headers=auth_headers)
        path = f"/webhooks/{created['id']}/deliveries"

        async def logged() -> dict[str, Any]:
            return (await (await client.get(path, headers=auth_headers)).get_json())["data"][0]  # type: ignore[no-any-return]

        deadline = time.monotonic() + 15
        while (entry := await logged())["status"] != "succeeded":
            assert time.monotonic() < deadline, entry
            await asyncio.sleep(0.02)
        assert entry["attempts"] == 2 and entry["response_code"] == 200
        assert entry["response_body"] == "ok" and entry["error"] is None
        assert entry["latency_ms"] >= 0 and entry["next_attempt_at"] is None
        again = await client.post(f"{path}/{entry['id']}/redeliver", headers=auth_headers)
        assert again.status_code == 202
        await until("the redelivery", lambda: hook.attempts()[entry["id"]] == 3)


async def test_a_failing_subscription_is_disabled_and_says_why(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    services.webhooks.sender.policy = RetryPolicy(
        first_retry_s=0.02, max_retry_s=0.05, disable_after_failures=3, disable_after_s=0
    )
    with receiver(lambda _id, _n: 500) as hook:
        created = await subscribe(client, auth_headers, hook)
        await client.post(f"/webhooks/{created['id']}/test", headers=auth_headers)
        path = f"/webhooks/{created['id']}"
        await until("three attempts", lambda: len(hook.received) >= 3)
        deadline = time.monotonic() + 15
        while (body := await (await client.get(path, headers=auth_headers)).get_json())["enabled"]:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        assert "3 failed deliveries in a row" in body["disabled_reason"]
        assert "HTTP 500" in body["disabled_reason"]
        await asyncio.sleep(0.3)  # what would be several more retries
        assert len(hook.received) == 3
        # Enabled again, its waiting delivery goes on.
        hook.plan = lambda _id, _n: 200
        enabled = await client.patch(path, json={"enabled": True}, headers=auth_headers)
        assert (await enabled.get_json())["disabled_reason"] is None
        await until("the delivery after enabling", lambda: hook.accepted())


async def test_filters_and_types_choose_what_is_sent(
    client: Client, auth_headers: dict[str, str]
) -> None:
    with receiver() as labelled, receiver() as other_workflow, receiver() as failures:
        await subscribe(client, auth_headers, labelled, labels={"team": "web"})
        await subscribe(client, auth_headers, other_workflow, workflow="nightly")
        await subscribe(client, auth_headers, failures, event_types=["stage.failed", "run.failed"])
        plain = await start(client, auth_headers, LINEAR)
        tagged = await start(client, auth_headers, LINEAR, labels={"team": "web"})
        failing = await start(client, auth_headers, FAILING)
        for run in (plain, tagged, failing):
            await wait_for(client, auth_headers, run["id"], {"completed", "failed"})
        await until("the tagged run's end", lambda: "run.completed" in types_of(labelled))
        await until("the failure", lambda: "run.failed" in types_of(failures))
        run_ids = {json.loads(item.body)["data"]["run_id"] for item in labelled.accepted()}
        assert run_ids == {tagged["id"]}
        assert sorted(types_of(failures)) == ["run.failed", "stage.failed"]
        assert other_workflow.received == []


def test_the_documented_snippet_accepts_a_delivery_and_refuses_a_stale_or_forged_one() -> None:
    verify = documented_verify()
    secret, body = "whsec_test", b'{"id":"evt_1","type":"ping","created_at":"","data":{}}'
    now = int(time.time())
    assert verify(secret, signature_header(secret, now, body), body)
    stale = signature_header(secret, now - 301, body)  # signed 5 minutes and a second ago
    assert not verify(secret, stale, body)
    assert verify(secret, stale, body, now=now - 300)
    assert not verify(secret, signature_header(secret, now, body), body + b" ")
    assert not verify("whsec_other", signature_header(secret, now, body), body)
    assert not verify(secret, "v1=abc", body)
    assert not verify(secret, "t=soon,v1=abc", body)


async def test_a_secret_that_cannot_be_opened_fails_its_attempts_and_sends_nothing(
    client: Client, auth_headers: dict[str, str], services: Services, tmp_path: Path
) -> None:
    services.webhooks.sender.policy = FAST
    with receiver() as hook:
        created = await subscribe(client, auth_headers, hook)
        other = KeyFileSealer(tmp_path / "other.key")  # as if the key file were replaced
        other.load()
        services.webhooks.sealer = other
        await client.post(f"/webhooks/{created['id']}/test", headers=auth_headers)
        path = f"/webhooks/{created['id']}/deliveries"
        deadline = time.monotonic() + 15
        while not (
            entry := (await (await client.get(path, headers=auth_headers)).get_json())["data"][0]
        )["attempts"]:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        assert entry["error"] == "the signing secret cannot be opened (CannotOpen)"
        assert entry["status"] == "pending" and hook.received == []
