"""API conventions (api.md §1-§3): the error envelope on every path, headers, pagination."""

from __future__ import annotations

import re
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from fabro.api.operations import Route
from fabro.api.routes import ROUTES
from tests.api.envelope import assert_envelope
from tests.api.runs_helpers import GATED, start, wait_for_question
from tests.api.wire import exchange


def concrete(route: Route) -> str:
    return re.sub(r"\{[^}]+\}", "X1", route.path)


PROTECTED = [route for route in ROUTES if not route.public]


@pytest.mark.parametrize("route", PROTECTED, ids=lambda r: r.operation_id)
async def test_every_protected_route_needs_authentication(client: Client, route: Route) -> None:
    response = await client.open(concrete(route), method=route.method)
    assert response.status_code == 401
    assert_envelope(await response.get_json(), 401, "Authentication required.")


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.operation_id)
async def test_every_route_answers_bad_input_in_the_envelope(
    client: Client, auth_headers: dict[str, str], route: Route
) -> None:
    """Bad JSON, a bad page parameter and junk path values never escape the envelope."""
    response = await client.open(
        concrete(route) + "?page[limit]=x&page[offset]=-1&after=nope&format=gif",
        method=route.method,
        data=b'{"broken": ',
        headers={**auth_headers, "Content-Type": "application/json"},
    )
    if response.status_code < 400:
        # Routes that ignore bodies and queries (discovery, LATER 501s are >= 400).
        assert route.operation_id in {
            "getRoot",
            "getHealth",
            "getOpenApiSpec",
            "getUser",
            "retrieveServerConfiguration",
            "getAggregateUsage",
            "verifyReceipts",
            "rotateSecrets",  # takes no body: a new key, whatever is sent
            "verifyAuditLogs",
        }
        return
    assert_envelope(await response.get_json(), response.status_code)
    if route.mark == "LATER":
        assert response.status_code == 501


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.operation_id)
async def test_every_spec_route_is_routable(
    client: Client, auth_headers: dict[str, str], route: Route
) -> None:
    if route.method == "GET" and route.events and not route.path_params:  # it never ends
        async with client.request(concrete(route), headers=auth_headers) as stream:
            await stream.send_complete()
            await stream.receive()
            await stream.disconnect()
        assert stream.status_code == 200
        return
    response = await client.open(concrete(route), method=route.method, headers=auth_headers)
    assert response.status_code not in (404, 405) or route.path_params, response.status_code
    if response.status_code in (404, 405):  # a resource lookup, not a routing miss
        body = await response.get_json()
        assert body["errors"][0]["detail"] != "Not found."


async def test_unknown_route_is_404_in_the_envelope(client: Client) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    assert_envelope(await response.get_json(), 404, "Not found.")


async def test_wrong_method_is_405_with_allow_header(client: Client) -> None:
    response = await client.delete("/runs")
    assert response.status_code == 405
    assert_envelope(await response.get_json(), 405, "Method not allowed.")
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


async def test_routing_errors_come_before_authentication(client: Client) -> None:
    assert (await client.get("/runs/x/nope")).status_code == 404
    assert (await client.put("/health")).status_code == 405


async def test_discovery_routes_are_public(client: Client) -> None:
    assert await (await client.get("/health")).get_json() == {"status": "ok"}
    root = await (await client.get("/")).get_json()
    assert root["urls"]["openapi_url"] == "/openapi.json"
    assert (await client.get("/openapi.json")).status_code == 200


async def test_common_headers(client: Client) -> None:
    for path in ("/health", "/nope"):
        response = await client.get(path)
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "Access-Control-Allow-Origin" not in response.headers


async def test_user_returns_the_login(client: Client, auth_headers: dict[str, str]) -> None:
    response = await client.get("/user", headers=auth_headers)
    assert await response.get_json() == {"login": "alice"}


async def test_unexpected_exception_is_a_generic_500_without_trace(
    app: Quart, client: Client, auth_headers: dict[str, str], caplog: Any
) -> None:
    async def boom() -> None:
        raise RuntimeError("secret internals")

    app.add_url_rule("/boom", "boom", boom)
    response = await client.get("/boom", headers=auth_headers)
    assert response.status_code == 500
    body = await response.get_json()
    assert_envelope(body, 500, "Internal server error.")
    assert "secret internals" not in await response.get_data(as_text=True)
    assert "secret internals" in caplog.text  # logged for the operator


async def test_json_bodies_say_utf_8(client: Client, auth_headers: dict[str, str]) -> None:
    for path, headers in (("/health", {}), ("/nope", {}), ("/user", auth_headers)):
        response = await client.get(path, headers=headers)
        assert response.headers["Content-Type"] == "application/json; charset=utf-8", path


async def test_empty_202_and_204_answers_have_no_content_type(
    client: Client, auth_headers: dict[str, str]
) -> None:
    # The original's generated clients read an answer with a Content-Type as a body to parse.
    run = await start(client, auth_headers, GATED)
    question = await wait_for_question(client, auth_headers, run["id"])
    steered = await exchange(
        client, "POST", f"/runs/{run['id']}/steer", auth_headers, {"guidance": "Keep it short."}
    )
    answered = await exchange(
        client,
        "POST",
        f"/runs/{run['id']}/questions/{question['id']}/answer",
        auth_headers,
        {"selected_option_key": "A"},
    )
    for response, status in ((steered, 202), (answered, 204)):
        assert (response.status, response.body) == (status, b"")
        assert "Content-Type" not in response.headers, status
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    # A 202 with a body keeps its JSON type.
    session = await exchange(client, "POST", "/sessions", auth_headers, {"content": "Hi"})
    sent = await exchange(
        client,
        "POST",
        f"/sessions/{session.json()['id']}/messages",
        auth_headers,
        {"content": "Again"},
    )
    assert sent.status == 202 and sent.json() == {"accepted": True}
    assert sent.headers["Content-Type"] == "application/json; charset=utf-8"
