"""The board's live feed: committed changes of state, one small message each, to bounded
subscribers that are dropped when they fall behind."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from fabro.engine.scheduler import STATES_KEY
from fabro.events.bus import EventBus
from fabro.events.sse import parse_stream, split_lines
from fabro.services import Services
from fabro.storage.records import EventRecord
from fabro.ui import feed
from fabro.ui.feed import FEED_QUEUE, BoardChange, change_of, column_of
from tests.api.runs_helpers import GATED, start, wait_for_question


def event(variant: str, run_id: str = "R", seq: int = 1, depth: int = 0) -> EventRecord:
    return EventRecord(run_id, seq, "2026-01-01T00:00:00.000Z", variant, {variant: {}}, depth)


def changes(chunk: bytes) -> list[dict[str, Any]]:
    return [json.loads(f.data) for f in parse_stream(split_lines(chunk))]


@pytest.mark.parametrize(
    ("status", "waiting", "column"),
    [
        ("queued", False, "active"),
        ("starting", False, "active"),
        ("running", False, "active"),
        ("paused", False, "active"),
        ("running", True, "waiting"),
        ("paused", True, "waiting"),
        ("completed", False, "completed"),
        ("failed", True, "failed"),  # a question left over never holds an ended run
        ("cancelled", False, "failed"),
    ],
)
def test_the_column_of_a_run(status: str, waiting: bool, column: str) -> None:
    assert column_of(status, waiting=waiting) == column


@pytest.mark.parametrize(
    ("variant", "status", "column"),
    [
        ("RunQueued", "queued", "active"),
        ("WorkflowRunStarted", "running", "active"),
        ("InterviewStarted", "running", "waiting"),
        ("InterviewCompleted", "running", "active"),
        ("InterviewTimeout", "running", "active"),
        ("RunPaused", "paused", "active"),
        ("RunResumed", "running", "active"),
        ("WorkflowRunCompleted", "completed", "completed"),
        ("WorkflowRunFailed", "failed", "failed"),
        ("RunCancelled", "cancelled", "failed"),
    ],
)
def test_each_change_of_state_is_one_small_message(variant: str, status: str, column: str) -> None:
    change = change_of(event(variant, "R1"))
    assert change == BoardChange("R1", status, column)
    assert json.loads(change.to_json()) == {"run_id": "R1", "status": status, "column": column}
    assert change_of(event("StageStarted")) is None


async def test_the_scheduler_publishes_only_changes_of_state_to_the_board(
    services: Services,
) -> None:
    subscription = feed.subscribe(services.runs.bus)
    published = [
        event("RunQueued", "A"),
        event("StageStarted", "A"),  # not a change of state
        event("Agent", "A"),
        event("WorkflowRunStarted", "A", depth=1),  # a child workflow's start: not the run's
        event("InterviewStarted", "A", depth=1),  # a child's gate: the run waits for a person
        event("WorkflowRunCompleted", "A", depth=1),
        event("RunCancelled", "B"),
    ]
    for record in published:
        services.runs.publish(record)
    got = [(m.payload.run_id, m.payload.variant) for m in subscription.ready()]
    assert got == [("A", "RunQueued"), ("A", "InterviewStarted"), ("B", "RunCancelled")]
    subscription.close()


async def test_a_change_is_sent_once_it_is_committed(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    frames = feed.board_frames(feed.subscribe(services.runs.bus))
    assert (await anext(frames)).startswith(b"retry: 1000\n")
    run = await start(client, auth_headers, GATED)
    seen: list[dict[str, Any]] = []

    async def until(column: str) -> None:
        async with asyncio.timeout(10):
            while not seen or seen[-1]["column"] != column:
                for change in changes(await anext(frames)):
                    assert change["run_id"] == run["id"]
                    seen.append(change)
                    stored = await services.store.get_run_summary(run["id"])
                    assert stored is not None  # the run is stored before it is announced
                    if change["column"] == "waiting":  # its question too
                        assert await services.store.pending_questions(run["id"])
                    if change["column"] == "completed":
                        assert stored.status == "completed"

    await until("waiting")
    question = await wait_for_question(client, auth_headers, run["id"])
    answered = await client.post(
        f"/runs/{run['id']}/questions/{question['id']}/answer",
        json={"selected_option_key": "A"},
        headers=auth_headers,
    )
    assert answered.status_code == 204
    await until("completed")
    assert seen[0] == {"run_id": run["id"], "status": "queued", "column": "active"}
    assert [c["column"] for c in seen].count("waiting") == 1
    await frames.aclose()
    assert services.runs.bus.subscriber_count(STATES_KEY) == 0


async def test_a_burst_sends_each_run_once_with_its_last_change() -> None:
    bus: EventBus[EventRecord] = EventBus()
    frames = feed.board_frames(feed.subscribe(bus))
    await anext(frames)
    for seq, (variant, run_id) in enumerate(
        [
            ("RunQueued", "A"),
            ("WorkflowRunStarted", "A"),
            ("RunQueued", "B"),
            ("StageStarted", "B"),
            ("InterviewStarted", "A"),
        ]
    ):
        bus.publish(STATES_KEY, seq, event(variant, run_id, seq))
    assert changes(await anext(frames)) == [
        {"run_id": "B", "status": "queued", "column": "active"},
        {"run_id": "A", "status": "running", "column": "waiting"},
    ]
    await frames.aclose()


async def test_a_board_that_falls_behind_is_dropped_and_the_others_go_on() -> None:
    bus: EventBus[EventRecord] = EventBus()
    slow, quick = feed.subscribe(bus), feed.subscribe(bus)
    slow_frames = feed.board_frames(slow)
    await anext(slow_frames)  # connected, then reads nothing more
    for seq in range(FEED_QUEUE + 1):
        bus.publish(STATES_KEY, seq, event("RunQueued", f"R{seq}", seq))
        assert len(quick.ready()) == 1
    assert slow.overflowed and bus.subscriber_count(STATES_KEY) == 1
    with pytest.raises(StopAsyncIteration):  # the response ends; the browser reconnects
        await anext(slow_frames)
    bus.publish(STATES_KEY, 0, event("RunCancelled", "R0"))
    assert [m.payload.variant for m in quick.ready()] == ["RunCancelled"]
    quick.close()


async def test_the_feed_ends_when_the_server_shuts_down_and_keeps_alive_meanwhile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(feed, "KEEP_ALIVE_S", 0.01)
    bus: EventBus[EventRecord] = EventBus()
    frames = feed.board_frames(feed.subscribe(bus))
    await anext(frames)
    assert await anext(frames) == b": keep-alive\n\n"
    bus.close_all()
    with pytest.raises(StopAsyncIteration):
        await anext(frames)
    assert bus.subscriber_count() == 0


async def test_the_board_events_route_streams_the_feed(
    ui_client: Client, auth_headers: dict[str, str]
) -> None:
    async with ui_client.request("/ui/board/events") as connection:
        first = await connection.receive()
        assert first.startswith(b"retry: 1000\n")
        run = await start(ui_client, auth_headers, GATED)
        body = b""
        async with asyncio.timeout(10):
            while b'"waiting"' not in body:
                body += await connection.receive()
        assert connection.status_code == 200
        assert connection.headers["Content-Type"] == "text/event-stream"
        assert "default-src 'none'" in connection.headers["Content-Security-Policy"]
        assert {c["run_id"] for c in changes(body)} == {run["id"]}
        await connection.disconnect()
    await ui_client.post(f"/runs/{run['id']}/cancel", headers=auth_headers)
