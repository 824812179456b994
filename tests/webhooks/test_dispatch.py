"""The dispatcher's transaction over a real SQLite file: which committed events become
deliveries, for which subscriptions, each once, and from where the cursor says."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any, get_args

import pytest

from fabro.api.bodies.webhooks import WebhookEventType
from fabro.clock import now_ts
from fabro.storage import runs
from fabro.storage.db import Database
from fabro.storage.events import append_events
from fabro.storage.records import NewEvent
from fabro.storage.webhooks import NewWebhook, WebhookStore
from fabro.webhooks.events import EVENT_TYPES, fields_of, run_event_type
from tests.storage.rows import make_run


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[WebhookStore]:
    db = await Database.open(tmp_path / "fabro.db")
    try:
        yield WebhookStore(db)
    finally:
        await db.close()


def event(variant: str, depth: int = 0, **fields: Any) -> NewEvent:
    return NewEvent(variant, {variant: fields}, depth)


async def add_run(store: WebhookStore, run_id: str, *events: NewEvent, **labels: str) -> None:
    def write(tx: Any) -> None:
        if tx.fetchone("SELECT 1 FROM runs WHERE id = ?", [run_id]) is None:
            runs.insert_run(tx, replace(make_run(run_id), labels=labels))
        append_events(tx, run_id, list(events), now_ts())

    await store.db.write(write)


async def subscribe(store: WebhookStore, *types: str, **labels: str) -> str:
    new = NewWebhook("http://127.0.0.1:9/", types, None, labels, "whsec_x", False, "alice")
    return (await store.create(new)).id


async def queued(store: WebhookStore) -> list[tuple[str, str]]:
    rows = await store.db.fetchall(
        "SELECT d.webhook_id, e.id FROM webhook_deliveries AS d"
        " JOIN webhook_events AS e ON e.id = d.event_id ORDER BY d.webhook_id, e.id"
    )
    return [(row[0], row[1]) for row in rows]


def test_which_events_are_sent() -> None:
    assert run_event_type("WorkflowRunStarted", {}) == "run.started"
    assert run_event_type("InterviewStarted", {}) == "run.waiting"
    assert run_event_type("StageFailed", {"will_retry": True}) is None
    assert run_event_type("StageFailed", {"will_retry": False}) == "stage.failed"
    assert run_event_type("PolicyDecision", {"decision": "ALERT"}) == "policy.alert"
    assert run_event_type("PolicyDecision", {"decision": "BLOCK"}) is None
    assert run_event_type("StageStarted", {}) is None
    assert fields_of("X", {"X": {"a": 1}}) == {"a": 1}


async def test_each_event_is_queued_once_for_each_subscription_that_wants_it(
    store: WebhookStore,
) -> None:
    everything = await subscribe(store, "run.started", "stage.failed", "run.completed")
    web_only = await subscribe(store, "run.completed", team="web")
    await add_run(
        store,
        "R1",
        event("WorkflowRunStarted", name="G", run_id="R1"),
        event("StageFailed", will_retry=True),
        event("StageFailed", will_retry=False),
        event("StageFailed", depth=1, will_retry=False),  # a child workflow's
        event("WorkflowRunCompleted", duration_ms=1, artifact_count=0),
        team="web",
    )
    await add_run(store, "R2", event("WorkflowRunCompleted", duration_ms=1, artifact_count=0))
    done = await store.queue.dispatch()
    assert (done.queued, done.more) == (5, False)
    assert await queued(store) == sorted(
        [
            (everything, "evt_R1_1"),
            (everything, "evt_R1_3"),
            (everything, "evt_R1_5"),
            (everything, "evt_R2_1"),
            (web_only, "evt_R1_5"),
        ]
    )
    assert not await store.queue.behind()
    assert (await store.queue.dispatch()).queued == 0  # the cursor moved: nothing twice


async def test_a_batch_moves_the_cursor_only_as_far_as_it_read(store: WebhookStore) -> None:
    await subscribe(store, "run.started")
    for n in range(5):
        await add_run(store, f"R{n}", event("WorkflowRunStarted", name="G", run_id=f"R{n}"))
    first = await store.queue.dispatch(batch=2)
    assert (first.queued, first.more) == (2, True)
    while (await store.queue.dispatch(batch=2)).more:
        pass
    assert len(await queued(store)) == 5


async def test_a_new_subscription_gets_only_what_is_committed_after_it(
    store: WebhookStore,
) -> None:
    await add_run(store, "old", event("WorkflowRunStarted", name="G", run_id="old"))
    hook = await subscribe(store, "run.started")
    await add_run(store, "new", event("WorkflowRunStarted", name="G", run_id="new"))
    await store.queue.dispatch()
    assert await queued(store) == [(hook, "evt_new_1")]


async def test_without_subscriptions_the_cursor_skips_ahead(store: WebhookStore) -> None:
    await add_run(store, "R", event("WorkflowRunStarted", name="G", run_id="R"))
    assert await store.queue.behind()
    assert (await store.queue.dispatch()).queued == 0
    assert not await store.queue.behind()


def test_the_api_names_exactly_the_event_types_the_dispatcher_sends() -> None:
    assert get_args(WebhookEventType) == EVENT_TYPES
