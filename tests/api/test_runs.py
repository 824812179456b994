"""POST/GET /runs, retrieve, cancel, pause, unpause (api.md §6.2-§6.5) against the real engine."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from fabro.config import Settings
from fabro.events.sse import parse_stream, split_lines
from fabro.services import Services
from tests.api.envelope import assert_envelope
from tests.api.runs_helpers import GATED, LINEAR, SLOW, start, wait_for, wait_for_question


async def test_start_run_returns_201_queued_with_location_then_completes(
    client: Client, auth_headers: dict[str, str]
) -> None:
    response = await client.post("/runs", json={"dot_source": LINEAR}, headers=auth_headers)
    assert response.status_code == 201
    body = await response.get_json()
    assert response.headers["Location"] == f"/runs/{body['id']}"
    assert body["status"] == "queued" and body["queue_position"] >= 1
    assert body["title"] == "Say hello" and body["goal"] == "Say hello"
    assert body["workflow"] is None and body["labels"] == {}
    # `work` has only an unconditional edge: its failure would fall through to `exit`.
    assert [w["rule"] for w in body["warnings"]] == ["failure_falls_through"]
    assert len(body["id"]) == 26 and body["created_at"].endswith("Z")
    final = await wait_for(client, auth_headers, body["id"], {"completed", "failed"})
    assert final["status"] == "completed"
    assert "queue_position" not in final and "error" not in final
    assert final["finished_at"] >= final["started_at"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "Exactly one of dot_source or workflow is required."),
        (
            {"dot_source": LINEAR, "workflow": "x"},
            "Exactly one of dot_source or workflow is required.",
        ),
        ({"dot_source": 5}, "Field 'dot_source' must be a string."),
        ({"dot_source": LINEAR, "vars": {"a": 1}}, "Field 'vars.a' must be a string."),
        (
            {"dot_source": LINEAR, "labels": {"bad key": "v"}},
            "Key 'bad key' of field 'labels' must match ^[A-Za-z0-9_.-]{1,64}$.",
        ),
        (
            {"dot_source": LINEAR, "labels": {"team": "v" * 257}},
            "Field 'labels.team' must be at most 256 characters.",
        ),
        (
            {"dot_source": LINEAR, "title": "x" * 201},
            "Field 'title' must be at most 200 characters.",
        ),
        ({"workflow": "nope"}, "Workflow not found: nope."),
        ({"dot_source": "digraph G {\n  a -> \n}"}, None),
        ({"dot_source": "digraph G { a -> b }"}, None),
    ],
)
async def test_start_run_rejects_bad_requests(
    client: Client, auth_headers: dict[str, str], body: dict[str, Any], detail: str | None
) -> None:
    response = await client.post("/runs", json=body, headers=auth_headers)
    assert response.status_code == 400
    payload = await response.get_json()
    assert_envelope(payload, 400, detail)
    text = payload["errors"][0]["detail"]
    if "a -> \n" in str(body.get("dot_source")):
        assert text.startswith("Parse error: 3:1: ")
    if body.get("dot_source") == "digraph G { a -> b }":
        assert text.startswith("Validation error: ")
    listing = await (await client.get("/runs", headers=auth_headers)).get_json()
    assert listing["data"] == []  # nothing was stored


async def test_warnings_are_returned_with_201(client: Client, auth_headers: dict[str, str]) -> None:
    dot = LINEAR.replace("exit [shape=Msquare]", "exit [shape=Msquare]\n  orphan [label=O]")
    body = await start(client, auth_headers, dot)
    assert body["warnings"] and all(w["severity"] != "error" for w in body["warnings"])


async def test_idempotency_key_replays_and_conflicts(
    client: Client, auth_headers: dict[str, str]
) -> None:
    headers = {**auth_headers, "Idempotency-Key": "k-1"}
    first = await client.post("/runs", json={"dot_source": LINEAR}, headers=headers)
    assert first.status_code == 201
    again = await client.post("/runs", json={"dot_source": LINEAR}, headers=headers)
    assert again.status_code == 200
    assert (await again.get_json())["id"] == (await first.get_json())["id"]
    other = await client.post("/runs", json={"dot_source": LINEAR, "goal": "x"}, headers=headers)
    assert other.status_code == 409
    assert_envelope(
        await other.get_json(),
        409,
        "Idempotency-Key was already used with a different request body.",
    )
    listing = await (await client.get("/runs", headers=auth_headers)).get_json()
    assert len(listing["data"]) == 1


async def test_failed_requests_do_not_consume_the_key(
    client: Client, auth_headers: dict[str, str]
) -> None:
    headers = {**auth_headers, "Idempotency-Key": "k-2"}
    bad = await client.post("/runs", json={"dot_source": "digraph {"}, headers=headers)
    assert bad.status_code == 400
    good = await client.post("/runs", json={"dot_source": LINEAR}, headers=headers)
    assert good.status_code == 201


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there"])
async def test_invalid_idempotency_key(
    client: Client, auth_headers: dict[str, str], key: str
) -> None:
    response = await client.post(
        "/runs", json={"dot_source": LINEAR}, headers={**auth_headers, "Idempotency-Key": key}
    )
    assert response.status_code == 400
    assert_envelope(await response.get_json(), 400, "Invalid Idempotency-Key header.")


async def test_concurrent_requests_with_one_key_create_one_run(
    client: Client, auth_headers: dict[str, str]
) -> None:
    headers = {**auth_headers, "Idempotency-Key": "same"}
    responses = await asyncio.gather(
        *(client.post("/runs", json={"dot_source": LINEAR}, headers=headers) for _ in range(20))
    )
    ids = {(await r.get_json())["id"] for r in responses}
    assert len(ids) == 1
    assert sorted(r.status_code for r in responses) == [200] * 19 + [201]


async def test_list_runs_newest_first_with_filters(
    client: Client, auth_headers: dict[str, str]
) -> None:
    made = [(await start(client, auth_headers))["id"] for _ in range(3)]
    for run_id in made:
        await wait_for(client, auth_headers, run_id, {"completed"})
    page = await (await client.get("/runs?page[limit]=2", headers=auth_headers)).get_json()
    assert [r["id"] for r in page["data"]] == made[::-1][:2] and page["meta"]["has_more"]
    done = await (
        await client.get("/runs?status=completed,failed", headers=auth_headers)
    ).get_json()
    assert len(done["data"]) == 3
    bad = await client.get("/runs?status=done", headers=auth_headers)
    assert_envelope(await bad.get_json(), 400, "Query parameter 'status' has unknown value 'done'.")
    none = await (await client.get("/runs?workflow=other", headers=auth_headers)).get_json()
    assert none["data"] == []


async def test_unknown_run_is_404(client: Client, auth_headers: dict[str, str]) -> None:
    for method, path in [
        ("GET", "/runs/NOPE"),
        ("POST", "/runs/NOPE/cancel"),
        ("POST", "/runs/NOPE/pause"),
        ("POST", "/runs/NOPE/unpause"),
    ]:
        response = await client.open(path, method=method, headers=auth_headers)
        assert response.status_code == 404
        assert_envelope(await response.get_json(), 404, "Run not found.")


async def test_cancel_a_running_run_and_conflicts_after(
    client: Client, auth_headers: dict[str, str]
) -> None:
    run = await start(client, auth_headers, SLOW)
    await wait_for(client, auth_headers, run["id"], {"running"})
    response = await client.post(f"/runs/{run['id']}/cancel", headers=auth_headers)
    assert response.status_code == 200
    body = await response.get_json()
    assert body["status"] == "cancelled" and "finished_at" in body
    again = await client.post(f"/runs/{run['id']}/cancel", headers=auth_headers)
    assert_envelope(await again.get_json(), 409, "Run is not cancellable.")
    pause = await client.post(f"/runs/{run['id']}/pause", headers=auth_headers)
    assert_envelope(await pause.get_json(), 409, "Run is not pausable.")
    unpause = await client.post(f"/runs/{run['id']}/unpause", headers=auth_headers)
    assert_envelope(await unpause.get_json(), 409, "Run is not paused.")


async def test_pause_holds_at_the_next_stage_and_unpause_continues(
    client: Client, auth_headers: dict[str, str]
) -> None:
    run = await start(client, auth_headers, GATED)
    question = await wait_for_question(client, auth_headers, run["id"])
    paused = await client.post(f"/runs/{run['id']}/pause", headers=auth_headers)
    assert (await paused.get_json())["status"] == "paused"
    # A question can still be answered while paused; the engine then holds before `done`.
    answer = await client.post(
        f"/runs/{run['id']}/questions/{question['id']}/answer",
        json={"selected_option_key": "A"},
        headers=auth_headers,
    )
    assert answer.status_code == 204
    await asyncio.sleep(0.3)
    held = await wait_for(client, auth_headers, run["id"], {"paused"})
    assert held["current_node"] == "done"
    resumed = await client.post(f"/runs/{run['id']}/unpause", headers=auth_headers)
    assert (await resumed.get_json())["status"] == "running"
    final = await wait_for(client, auth_headers, run["id"], {"completed", "failed"})
    assert final["status"] == "completed"


async def test_cancel_from_paused(client: Client, auth_headers: dict[str, str]) -> None:
    run = await start(client, auth_headers, GATED)
    await wait_for_question(client, auth_headers, run["id"])
    paused = await client.post(f"/runs/{run['id']}/pause", headers=auth_headers)
    assert (await paused.get_json())["status"] == "paused"
    cancelled = await client.post(f"/runs/{run['id']}/cancel", headers=auth_headers)
    assert (await cancelled.get_json())["status"] == "cancelled"
    questions = await (
        await client.get(f"/runs/{run['id']}/questions", headers=auth_headers)
    ).get_json()
    assert questions["data"] == []


async def test_cancel_from_queued(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    services.runs.max_concurrent_runs = 1
    holder = await start(client, auth_headers, GATED)
    question = await wait_for_question(client, auth_headers, holder["id"])  # holds the one slot
    run = await start(client, auth_headers, LINEAR)
    queued = await (await client.get(f"/runs/{run['id']}", headers=auth_headers)).get_json()
    assert (queued["status"], queued["queue_position"]) == ("queued", 1)

    cancelled = await client.post(f"/runs/{run['id']}/cancel", headers=auth_headers)
    assert cancelled.status_code == 200
    body = await cancelled.get_json()
    assert body["status"] == "cancelled" and "started_at" not in body

    # The slot frees up: the holder finishes, and the cancelled run never starts.
    answer = await client.post(
        f"/runs/{holder['id']}/questions/{question['id']}/answer",
        json={"selected_option_key": "A"},
        headers=auth_headers,
    )
    assert answer.status_code == 204
    await wait_for(client, auth_headers, holder["id"], {"completed"})
    final = await (await client.get(f"/runs/{run['id']}", headers=auth_headers)).get_json()
    assert final["status"] == "cancelled" and "started_at" not in final
    stages = await (await client.get(f"/runs/{run['id']}/stages", headers=auth_headers)).get_json()
    assert stages["data"] == []
    events = await client.get(f"/runs/{run['id']}/events", headers=auth_headers)
    frames = parse_stream(split_lines(await events.get_data()))
    assert [next(iter(json.loads(frame.data))) for frame in frames] == ["RunQueued", "RunCancelled"]


@pytest.mark.parametrize("path", ["/runs", "/sessions", "/workflows/hello/runs"])
async def test_page_offset_beyond_sqlite_integers_is_an_empty_page(
    client: Client, auth_headers: dict[str, str], settings: Settings, path: str
) -> None:
    # Found by API fuzzing: an offset past 2**63 - 1 overflowed the SQLite query into a 500.
    slug = settings.workflows_dir / "hello"
    slug.mkdir(parents=True, exist_ok=True)
    (slug / "workflow.dot").write_text(LINEAR, encoding="utf-8")
    await start(client, auth_headers)
    for offset in (2**63, 10**30):
        response = await client.get(f"{path}?page[offset]={offset}", headers=auth_headers)
        assert response.status_code == 200, await response.get_data(as_text=True)
        assert await response.get_json() == {"data": [], "meta": {"has_more": False}}
