"""Questions and answers (api.md §6.9-§6.10) and the run event stream (§6.8)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from fabro.events.sse import parse_stream, split_lines
from tests.api.envelope import assert_envelope
from tests.api.runs_helpers import GATED, LINEAR, SLOW, start, wait_for, wait_for_question


async def test_question_lifecycle_and_every_status_code(
    client: Client, auth_headers: dict[str, str]
) -> None:
    run = await start(client, auth_headers, GATED)
    question = await wait_for_question(client, auth_headers, run["id"])
    assert question == {
        "id": "q-1",
        "text": "Approve Plan",
        "question_type": "multiple_choice",
        "options": [{"key": "A", "label": "[A] Approve"}, {"key": "R", "label": "[R] Reject"}],
        "allow_freeform": False,
        "stage": "approve",
        "created_at": question["created_at"],
    }
    status = await (await client.get(f"/runs/{run['id']}", headers=auth_headers)).get_json()
    assert status["pending_question"] == {"id": "q-1", "text": "Approve Plan"}
    url = f"/runs/{run['id']}/questions/q-1/answer"

    async def answer(body: dict[str, Any], path: str = url) -> Any:
        return await client.post(path, json=body, headers=auth_headers)

    response = await answer({})
    assert_envelope(
        await response.get_json(),
        400,
        "One of value, selected_option_key, or selected_option_keys is required.",
    )
    response = await answer({"selected_option_key": "A"}, "/runs/NOPE/questions/q-1/answer")
    assert_envelope(await response.get_json(), 404, "Run not found.")
    response = await answer({"selected_option_key": "A"}, f"/runs/{run['id']}/questions/q-9/answer")
    assert_envelope(await response.get_json(), 404, "Question not found.")
    response = await answer({"selected_option_key": "Z"})
    assert_envelope(await response.get_json(), 400, "Invalid option key.")
    assert (await answer({"selected_option_key": "A"})).status_code == 204
    response = await answer({"selected_option_key": "R"})
    assert_envelope(
        await response.get_json(), 409, "Question no longer exists or was already answered."
    )
    final = await wait_for(client, auth_headers, run["id"], {"completed", "failed"})
    assert final["status"] == "completed"
    events = await (await client.get(f"/runs/{run['id']}/events", headers=auth_headers)).get_data()
    variants = [next(iter(json.loads(f.data))) for f in parse_stream(split_lines(events))]
    assert "InterviewStarted" in variants and "InterviewCompleted" in variants
    assert variants.index("InterviewStarted") < variants.index("InterviewCompleted")


async def test_answer_to_a_queued_run_is_409(client: Client, auth_headers: dict[str, str]) -> None:
    # max_concurrent_runs is 5: fill the slots with slow runs so the sixth stays queued.
    slow = [await start(client, auth_headers, SLOW) for _ in range(5)]
    for run in slow:
        await wait_for(client, auth_headers, run["id"], {"running"})
    queued = await start(client, auth_headers, GATED)
    body = await (await client.get(f"/runs/{queued['id']}", headers=auth_headers)).get_json()
    assert body["status"] == "queued" and body["queue_position"] == 1
    response = await client.post(
        f"/runs/{queued['id']}/questions/q-1/answer",
        json={"value": "yes"},
        headers=auth_headers,
    )
    assert_envelope(await response.get_json(), 409, "Run is not yet running.")
    for run in slow:
        await client.post(f"/runs/{run['id']}/cancel", headers=auth_headers)
    await wait_for(client, auth_headers, queued["id"], {"running"})


async def test_event_stream_replays_with_ids_and_closes_after_terminal_event(
    client: Client, auth_headers: dict[str, str]
) -> None:
    run = await start(client, auth_headers, LINEAR)
    await wait_for(client, auth_headers, run["id"], {"completed"})
    response = await client.get(f"/runs/{run['id']}/events", headers=auth_headers)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    frames = list(parse_stream(split_lines(await response.get_data())))
    assert [f.seq for f in frames] == list(range(1, len(frames) + 1))
    assert all(f.event is None for f in frames)
    assert next(iter(json.loads(frames[0].data))) == "RunQueued"
    assert next(iter(json.loads(frames[-1].data))) == "WorkflowRunCompleted"

    tail = await client.get(
        f"/runs/{run['id']}/events", headers={**auth_headers, "Last-Event-ID": "3"}
    )
    replay = list(parse_stream(split_lines(await tail.get_data())))
    assert [f.seq for f in replay] == list(range(4, len(frames) + 1))
    after = await client.get(
        f"/runs/{run['id']}/events?after={len(frames) - 1}", headers=auth_headers
    )
    assert [f.seq for f in parse_stream(split_lines(await after.get_data()))] == [len(frames)]

    gone = await client.get(f"/runs/{run['id']}/events?after={len(frames)}", headers=auth_headers)
    assert_envelope(await gone.get_json(), 410, "Event stream closed.")


@pytest.mark.parametrize("query", ["?after=x", "?after=-1"])
async def test_bad_start_position_is_400(
    client: Client, auth_headers: dict[str, str], query: str
) -> None:
    run = await start(client, auth_headers, LINEAR)
    response = await client.get(f"/runs/{run['id']}/events{query}", headers=auth_headers)
    assert response.status_code == 400
    assert_envelope(await response.get_json(), 400)


async def test_unknown_run_stream_is_404(client: Client, auth_headers: dict[str, str]) -> None:
    response = await client.get("/runs/NOPE/events", headers=auth_headers)
    assert_envelope(await response.get_json(), 404, "Run not found.")


async def test_live_stream_follows_a_running_run(
    client: Client, auth_headers: dict[str, str]
) -> None:
    run = await start(client, auth_headers, GATED)
    async with client.request(f"/runs/{run['id']}/events", headers=auth_headers) as connection:
        question = await wait_for_question(client, auth_headers, run["id"])
        await client.post(
            f"/runs/{run['id']}/questions/{question['id']}/answer",
            json={"value": "approve"},
            headers=auth_headers,
        )
        body = b""
        while True:
            chunk = await connection.receive()
            if not chunk:
                break
            body += chunk
            if b"WorkflowRunCompleted" in body:
                break
    frames = list(parse_stream(split_lines(body)))
    seqs = [f.seq for f in frames]
    assert seqs == sorted(set(seqs)) and seqs[0] == 1
    assert "WorkflowRunCompleted" in frames[-1].data


async def test_start_position_beyond_sqlite_integers_is_no_error(
    client: Client, auth_headers: dict[str, str]
) -> None:
    # Found by API fuzzing: ?after=9223372036854775808 on a live run overflowed the SQLite
    # query inside the stream, cutting the 200 response off mid-body.
    run = await start(client, auth_headers, GATED)
    await wait_for_question(client, auth_headers, run["id"])
    path = f"/runs/{run['id']}/events"
    for query, extra in ((f"?after={2**63}", {}), ("", {"Last-Event-ID": str(10**30)})):
        headers = {**auth_headers, **extra}
        async with client.request(path + query, headers=headers) as connection:
            with pytest.raises(TimeoutError):  # nothing lies that far: the stream waits
                async with asyncio.timeout(0.3):
                    await connection.receive()
            assert connection.status_code == 200
            await connection.disconnect()
