"""JSON answers (fabro/api/respond.py): one encoder, the wire form Quart's JSON had."""

from __future__ import annotations

from quart import Quart, Response
from quart.typing import TestClientProtocol as Client

from fabro.api.bodies.runs import PendingQuestion, RunStatusResponse
from fabro.api.errors import envelope_bytes
from fabro.api.headers import JSON_CONTENT_TYPE
from fabro.api.respond import encode, json_response, view
from fabro.api.views import run_status
from fabro.storage.records import RunSummary

RUN = RunSummary(
    id="01JRUN",
    status="running",
    title="Ünïcode title",
    created_at="2026-01-01T00:00:00.000Z",
    goal="",
    current_node="work",
)


def test_a_body_is_compact_utf8_json_with_a_final_newline() -> None:
    body = run_status(RUN, pending_question=PendingQuestion(id="q1", text="Ok?"))
    # The original's fields first, in its order, as the dicts before the typed bodies had it.
    assert encode(body) == (
        b'{"id":"01JRUN","status":"running","created_at":"2026-01-01T00:00:00.000Z",'
        b'"title":"\xc3\x9cn\xc3\xafcode title","workflow":null,"goal":"","labels":{},'
        b'"current_node":"work","pending_question":{"id":"q1","text":"Ok?"}}\n'
    )


def test_absent_fields_are_left_out_and_none_is_null() -> None:
    body = RunStatusResponse(id="r", status="queued", created_at="t", workflow=None)
    assert encode(body) == b'{"id":"r","status":"queued","created_at":"t","workflow":null}\n'
    assert encode(None) == b"null\n"


def test_numbers_keep_their_kind() -> None:
    assert encode({"int": 3, "float": 2.0, "cost": 0.1, "big": 2**70}) == (
        b'{"int":3,"float":2.0,"cost":0.1,"big":1180591620717411303424}\n'
    )


def test_a_response_carries_the_json_media_type() -> None:
    response = json_response({"ok": True}, 201, {"Location": "/x"})
    assert response.status_code == 201
    assert response.headers["Content-Type"] == JSON_CONTENT_TYPE
    assert response.headers["Location"] == "/x"


async def test_the_error_envelope_sent_outside_quart_is_the_same_bytes(
    client: Client, auth_headers: dict[str, str]
) -> None:
    answer = await client.get("/runs/nope", headers=auth_headers)
    assert await answer.get_data() == envelope_bytes(404, "Run not found.")
    assert envelope_bytes(404, "Run not found.") == (
        b'{"errors":[{"status":"404","title":"Not Found","detail":"Run not found."}]}\n'
    )


async def test_a_view_sends_a_body_as_json_and_a_response_as_it_is(
    app: Quart, client: Client, auth_headers: dict[str, str]
) -> None:
    async def body(name: str) -> RunStatusResponse:
        return RunStatusResponse(id=name, status="paused", created_at="t")

    async def nothing() -> None:
        return None

    async def own() -> Response:
        return Response("plain", 418, content_type="text/plain")

    app.add_url_rule("/t/body/<name>", "t_body", view(body))
    app.add_url_rule("/t/null", "t_null", view(nothing))
    app.add_url_rule("/t/own", "t_own", view(own))
    answer = await client.get("/t/body/r1", headers=auth_headers)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == JSON_CONTENT_TYPE
    assert await answer.get_data() == b'{"id":"r1","status":"paused","created_at":"t"}\n'
    assert await (await client.get("/t/null", headers=auth_headers)).get_data() == b"null\n"
    own_answer = await client.get("/t/own", headers=auth_headers)
    assert (own_answer.status_code, await own_answer.get_data()) == (418, b"plain")
