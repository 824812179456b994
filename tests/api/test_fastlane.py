"""The fast lane of `GET /runs/{id}` (fabro/api/fastlane.py): the same 200s as the Quart route,
byte for byte, and nothing else; every other answer still comes from Quart."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from fabro.api.fastlane import FastLane
from fabro.api.ratelimit import CONFIG_KEY as RATE_LIMITER
from fabro.auth.certs import init_certs
from fabro.auth.chain import AuthChain
from fabro.auth.mtls import MtlsAuthenticator
from fabro.services import Services
from tests.api.asgi_calls import Headers, bearer, call
from tests.api.envelope import assert_envelope
from tests.api.runs_helpers import GATED, LINEAR, start, wait_for, wait_for_question

MALLORY_DENIED = "Access denied: user 'mallory' is not in [web.auth] allowed_usernames."


class QuartCalls:
    """Puts a counter between the fast lane and Quart."""

    def __init__(self, app: Quart) -> None:
        self.lane = app.asgi_app
        assert isinstance(self.lane, FastLane)
        self.quart = self.lane.inner
        self.paths: list[str] = []
        self.lane.inner = self._counted

    async def _counted(self, scope: Any, receive: Any, send: Any) -> None:
        self.paths.append(scope["path"])
        await self.quart(scope, receive, send)


@pytest.fixture
def quart_calls(app: Quart) -> QuartCalls:
    return QuartCalls(app)


async def test_the_fast_lane_answers_exactly_as_the_quart_route(
    app: Quart, client: Client, auth_headers: dict[str, str], quart_calls: QuartCalls
) -> None:
    headers = bearer(auth_headers["Authorization"].split()[1])
    done = await start(client, auth_headers, LINEAR, title="Grüße ✓", labels={"team": "ops"})
    await wait_for(client, auth_headers, done["id"], {"completed"})
    gated = await start(client, auth_headers, GATED)
    await wait_for_question(client, auth_headers, gated["id"])
    quart_calls.paths.clear()
    app.config[RATE_LIMITER].clock = lambda: 30.0  # one window, 30 s before it resets
    for run_id in (done["id"], gated["id"]):
        fast = await call(app, f"/runs/{run_id}", headers)
        assert quart_calls.paths == []  # answered in front of Quart
        slow = await call(quart_calls.quart, f"/runs/{run_id}", headers)
        # Each is counted: Quart's answer, the later one, has one request less remaining.
        assert fast[0] == slow[0] and fast[2] == slow[2]
        assert [name for name, _ in fast[1]] == [name for name, _ in slow[1]]
        left = int(dict(fast[1])[b"ratelimit-remaining"])
        assert int(dict(slow[1])[b"ratelimit-remaining"]) == left - 1
        status, sent_headers, body = fast
        assert status == 200
        sent = dict(sent_headers)
        assert len(sent.pop(b"x-request-id")) == 26  # a new ULID: the request sent none
        assert sent == {
            b"content-type": b"application/json; charset=utf-8",
            b"content-length": str(len(body)).encode(),
            b"ratelimit-limit": b"6000",
            b"ratelimit-remaining": str(left).encode(),
            b"ratelimit-reset": b"30",
            b"cache-control": b"no-store",
            b"x-content-type-options": b"nosniff",
        }
        assert json.loads(body)["id"] == run_id
    answered = json.loads((await call(app, f"/runs/{gated['id']}", headers))[2])
    assert answered["status"] == "running" and answered["pending_question"]["text"]
    assert "Grüße ✓".encode() in (await call(app, f"/runs/{done['id']}", headers))[2]


async def test_every_error_is_answered_by_quart(
    app: Quart,
    client: Client,
    auth_headers: dict[str, str],
    make_token: Callable[..., str],
    quart_calls: QuartCalls,
) -> None:
    run_id = (await start(client, auth_headers))["id"]
    good = make_token()
    cases: list[tuple[Headers, str, int, str]] = [
        ([], run_id, 401, "Authentication required."),
        (bearer("garbage"), run_id, 401, "Invalid token."),
        (bearer(make_token(ttl_s=-120)), run_id, 401, "Token expired."),
        (bearer(make_token("mallory")), run_id, 403, MALLORY_DENIED),
        ([*bearer(good), *bearer(good)], run_id, 401, "Invalid token."),
        (bearer(good), "01ZZZZZZZZZZZZZZZZZZZZZZZZ", 404, "Run not found."),
        (bearer(good), "not-a-run-id", 404, "Run not found."),
    ]
    for headers, target, status, detail in cases:
        quart_calls.paths.clear()
        answered, _, body = await call(app, f"/runs/{target}", headers)
        assert (answered, quart_calls.paths) == (status, [f"/runs/{target}"]), detail
        assert_envelope(json.loads(body), status, detail)


async def test_unusual_requests_go_to_quart(
    app: Quart, client: Client, auth_headers: dict[str, str], quart_calls: QuartCalls
) -> None:
    run_id = (await start(client, auth_headers))["id"]
    headers = bearer(auth_headers["Authorization"].split()[1])
    path = f"/runs/{run_id}"
    with_body = [*headers, (b"content-type", b"text/plain"), (b"content-length", b"2")]
    for kwargs in ({"query": b"x=1"}, {"method": "HEAD"}):
        quart_calls.paths.clear()
        assert (await call(app, path, headers, **kwargs))[0] == 200
        assert quart_calls.paths == [path]
    quart_calls.paths.clear()
    assert (await call(app, path, with_body, body=b"hi"))[0] == 200
    assert quart_calls.paths == [path]
    quart_calls.paths.clear()
    assert (await call(app, f"{path}/", headers))[0] == 404
    assert quart_calls.paths == [f"{path}/"]


async def test_client_certificates_authenticate_in_the_fast_lane_too(
    app: Quart,
    client: Client,
    services: Services,
    auth_headers: dict[str, str],
    quart_calls: QuartCalls,
    tmp_path: Path,
) -> None:
    run_id = (await start(client, auth_headers))["id"]
    issued = init_certs(tmp_path / "certs", ["alice", "bob"])
    pems = {cn: path.read_text() for cn, path, _ in issued.clients}
    services.auth = AuthChain([MtlsAuthenticator(["alice"])])
    path = f"/runs/{run_id}"

    def tls(pem: str) -> dict[str, Any]:
        return {"client_cert_chain": [pem], "client_cert_error": None, "tls_version": 0x0304}

    quart_calls.paths.clear()
    assert (await call(app, path, [], tls=tls(pems["alice"])))[0] == 200
    assert quart_calls.paths == []
    for headers, extension, status in (
        ([], tls(pems["bob"]), 403),
        ([], None, 401),
        (bearer(auth_headers["Authorization"].split()[1]), None, 401),  # jwt is not configured
    ):
        quart_calls.paths.clear()
        assert (await call(app, path, headers, tls=extension))[0] == status
        assert quart_calls.paths == [path]
