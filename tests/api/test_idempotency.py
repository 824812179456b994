"""Idempotency-Key on the POSTs that create or act: a repeat replays the first response, another
request with the key is 409, a failure frees the key, concurrent repeats wait for the first."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from quart import Quart, Response
from quart.typing import TestClientProtocol as Client

from fabro.api import idempotency
from fabro.api.idempotency import DIFFERENT, IN_PROGRESS, IdempotencyGuard
from fabro.api.openapi import openapi_document
from fabro.api.routes import ROUTES
from fabro.auth.keys import ensure_key_pair
from fabro.config import Settings, load_settings
from fabro.errors import Conflict
from fabro.services import Services
from tests.api.envelope import assert_envelope
from tests.api.runs_helpers import GATED, start, wait_for_question
from tests.api.sessions_helpers import create


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The shared test server, with a second user (bob)."""
    ensure_key_pair(tmp_path / "data" / "keys")
    path = tmp_path / "server.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        '[api]\nauthentication_strategies = ["jwt"]\n'
        '[web.auth]\nallowed_usernames = ["alice", "bob"]\n',
        encoding="utf-8",
    )
    return load_settings(path, env={"HOME": str(tmp_path)}).settings


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


async def gated_run(client: Client, headers: dict[str, str]) -> tuple[str, str]:
    run = await start(client, headers, GATED)
    question = await wait_for_question(client, headers, run["id"])
    return run["id"], f"/runs/{run['id']}/questions/{question['id']}/answer"


async def completions(services: Services, run_id: str) -> int:
    """How many answers the run took, once it has ended (an answer's 204 comes when it is
    stored; the engine commits its InterviewCompleted a moment later)."""
    for _ in range(500):
        run = await services.store.get_run(run_id)
        if run is not None and run.status in ("completed", "failed", "cancelled"):
            break
        await asyncio.sleep(0.01)
    events = await services.store.events_after(run_id, 0)
    return sum(1 for event in events if event.variant == "InterviewCompleted")


async def test_a_repeat_replays_the_first_answer_and_acts_once(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    run_id, url = await gated_run(client, auth_headers)
    headers = keyed(auth_headers, "answer-1")
    first = await client.post(url, json={"selected_option_key": "A"}, headers=headers)
    again = await client.post(url, json={"selected_option_key": "A"}, headers=headers)
    assert first.status_code == again.status_code == 204
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await first.get_data() == await again.get_data() == b""
    # Without the key, the same answer is refused: the question was answered once.
    plain = await client.post(url, json={"selected_option_key": "A"}, headers=auth_headers)
    assert plain.status_code == 409
    assert await completions(services, run_id) == 1


async def test_a_json_answer_is_replayed_with_its_status_headers_and_body(
    client: Client, auth_headers: dict[str, str]
) -> None:
    headers = keyed(auth_headers, "session-1")
    first = await client.post("/sessions", json={"content": "hi"}, headers=headers)
    again = await client.post("/sessions", json={"content": "hi"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert await first.get_data() == await again.get_data()
    assert first.headers["Location"] == again.headers["Location"]
    assert again.headers["Content-Type"] == first.headers["Content-Type"]
    listed = await (await client.get("/sessions", headers=auth_headers)).get_json()
    assert len(listed["data"]) == 1


async def test_another_request_with_the_key_is_409(
    client: Client, auth_headers: dict[str, str]
) -> None:
    session = await create(client, auth_headers, content="hi")
    url = f"/sessions/{session['id']}/messages"
    headers = keyed(auth_headers, "message-1")
    sent = await client.post(url, json={"content": "hello"}, headers=headers)
    assert sent.status_code == 202
    for other_url, body in ((url, {"content": "hello!"}), ("/sessions", {"content": "hello"})):
        refused = await client.post(other_url, json=body, headers=headers)
        assert_envelope(await refused.get_json(), 409, DIFFERENT)


async def test_a_failed_request_does_not_use_up_its_key(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    run_id, url = await gated_run(client, auth_headers)
    headers = keyed(auth_headers, "retry-me")
    bad = await client.post(url, json={"selected_option_key": "Z"}, headers=headers)
    assert bad.status_code == 400
    good = await client.post(url, json={"selected_option_key": "A"}, headers=headers)
    assert good.status_code == 204 and "Idempotent-Replayed" not in good.headers
    assert await completions(services, run_id) == 1


async def test_keys_are_the_principals_own(
    client: Client, auth_headers: dict[str, str], make_token: Any
) -> None:
    mine = await client.post("/sessions", json={"content": "hi"}, headers=keyed(auth_headers, "k"))
    other = {"Authorization": f"Bearer {make_token('bob')}", "Idempotency-Key": "k"}
    theirs = await client.post("/sessions", json={"content": "hi"}, headers=other)
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers
    assert (await mine.get_json())["id"] != (await theirs.get_json())["id"]


@pytest.mark.parametrize("key", ["", "é", "x" * 256, "tab\there"])
async def test_an_invalid_key_is_400(
    client: Client, auth_headers: dict[str, str], key: str
) -> None:
    response = await client.post(
        "/sessions", json={"content": "hi"}, headers=keyed(auth_headers, key)
    )
    assert_envelope(await response.get_json(), 400, "Invalid Idempotency-Key header.")


async def test_concurrent_repeats_wait_for_the_first_and_replay_it(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    run_id, url = await gated_run(client, auth_headers)
    headers = keyed(auth_headers, "many")
    answers = await asyncio.gather(
        *(client.post(url, json={"selected_option_key": "A"}, headers=headers) for _ in range(20))
    )
    assert {a.status_code for a in answers} == {204}
    assert sum(1 for a in answers if "Idempotent-Replayed" not in a.headers) == 1
    assert await completions(services, run_id) == 1


# ---- the guard itself: waiting, its deadline, a client that goes away -----------------------


class Gate:
    """A handler that counts its calls and answers when released."""

    def __init__(self) -> None:
        self.calls = 0
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self) -> Response:
        self.calls += 1
        self.entered.set()
        await self.release.wait()
        return Response(b'{"n":1}\n', 201, content_type="application/json")


async def test_a_repeat_waits_for_the_running_first_then_replays(app: Quart) -> None:
    guard, gate = IdempotencyGuard(), Gate()
    async with app.app_context():
        first = asyncio.create_task(guard.once(("alice", "k"), "h", gate))
        await asyncio.sleep(0)
        second = asyncio.create_task(guard.once(("alice", "k"), "h", gate))
        await gate.entered.wait()
        assert not second.done()
        gate.release.set()
        one, two = await first, await second
    assert gate.calls == 1 and one.status_code == two.status_code == 201
    assert await two.get_data() == b'{"n":1}\n' and two.headers["Idempotent-Replayed"] == "true"


async def test_a_repeat_gives_up_at_its_deadline(
    app: Quart, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idempotency, "WAIT_S", 0.05)
    guard, gate = IdempotencyGuard(), Gate()
    async with app.app_context():
        first = asyncio.create_task(guard.once(("alice", "k"), "h", gate))
        await asyncio.sleep(0)
        with pytest.raises(Conflict) as caught:
            await guard.once(("alice", "k"), "h", gate)
        assert caught.value.detail == IN_PROGRESS and caught.value.headers["Retry-After"] == "1"
        gate.release.set()
        await first


async def test_the_first_request_finishes_and_is_stored_when_its_client_goes_away(
    app: Quart, services: Services
) -> None:
    guard, gate = IdempotencyGuard(), Gate()
    async with app.app_context():
        first = asyncio.create_task(guard.once(("alice", "k"), "h", gate))
        await gate.entered.wait()
        first.cancel()  # the client disconnected: Quart cancels its request
        gate.release.set()
        await guard.drain()
        stored = await services.idempotent_requests.find("alice", "k")
        assert stored is not None and stored.response is not None
        assert stored.response.status == 201
        replay = await guard.once(("alice", "k"), "h", gate)
    assert gate.calls == 1 and replay.headers["Idempotent-Replayed"] == "true"


# ---- which routes honour it --------------------------------------------------------------------


def test_the_document_lists_the_header_on_every_post_that_acts() -> None:
    document = openapi_document()
    for route in ROUTES:
        operation = document["paths"][route.path][route.method.lower()]
        names = [p.get("name") for p in operation.get("parameters", [])]
        expected = route.method == "POST" and route.events is None
        assert names.count("Idempotency-Key") == int(expected), route.operation_id
        assert route.idempotent == (expected and route.operation_id != "startRun")
    by_id = {route.operation_id: route for route in ROUTES}
    for operation_id in (
        "submitRunAnswer",
        "cancelRun",
        "pauseRun",
        "unpauseRun",
        "steerRun",
        "createSession",
        "sendSessionMessage",
    ):
        assert by_id[operation_id].idempotent, operation_id
    assert not by_id["createCompletion"].idempotent  # a stream: nothing to replay
