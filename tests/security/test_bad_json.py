"""Finding 8: JSON that the standard parser chokes on is a 400 naming the problem, never a 500.

Nesting 100,000 deep (a RecursionError in the parser), lone surrogates (strings SQLite and
UTF-8 cannot hold, in keys as in values) and integers over Python's 4,300-digit conversion
limit (a ValueError) are sent to every route that reads a body, each with a real resource
behind its path, and as the JSON text of a tool call's `arguments` in `/completions`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from fabro.api.request import MAX_JSON_DEPTH, MAX_JSON_INT_DIGITS
from fabro.api.routes import ROUTES, Route
from tests.api.envelope import assert_envelope
from tests.api.runs_helpers import GATED, start, wait_for_question

DEEP = 100_000
HOLE = '"@@HOLE@@"'  # where a case's JSON text goes into a route's valid body

# (case id, JSON text of one value, words the detail must contain)
VALUES = [
    ("deep-arrays", "[" * DEEP + "]" * DEEP, f"deeper than {MAX_JSON_DEPTH} levels"),
    ("deep-objects", '{"a":' * DEEP + "1" + "}" * DEEP, f"deeper than {MAX_JSON_DEPTH} levels"),
    ("just-too-deep", "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), "deeper than"),
    ("high-surrogate", r'"a\ud800b"', r"lone surrogate (\ud800)"),
    ("low-surrogate", r'"\udc00"', r"lone surrogate (\udc00)"),
    ("reversed-pair", r'"\ude00\ud83d"', "lone surrogate"),
    ("surrogate-key", r'{"\ud800": "x"}', "A key of"),
    ("huge-integer", "9" * 5_000, "4300 digits"),
    ("huge-negative-integer", "-" + "1" * 4_301, "4300 digits"),
    ("nan", "NaN", "NaN"),
    ("infinity", "-Infinity", "-Infinity"),
]

# A body each route accepts, with HOLE in one of the fields it reads.
VALID_BODIES = {
    "startRun": {"dot_source": GATED, "goal": "@@HOLE@@"},
    "submitRunAnswer": {"selected_option_key": "@@HOLE@@"},
    "steerRun": {"guidance": "@@HOLE@@"},
    "createSession": {"content": "@@HOLE@@"},
    "sendSessionMessage": {"content": "@@HOLE@@"},
    "createCompletion": {
        "messages": [{"role": "user", "content": [{"kind": "text", "data": "@@HOLE@@"}]}]
    },
    # issue 19: the body is read before the resource is looked up, so no resource is needed
    "createWorkflowSchedule": {"cron": "@daily", "goal": "@@HOLE@@"},
    "updateWorkflowSchedule": {"goal": "@@HOLE@@"},
    "createWebhook": {"url": "http://127.0.0.1:9/hook", "event_types": ["@@HOLE@@"]},
    "updateWebhook": {"url": "@@HOLE@@"},
    "setSecret": {"value": "@@HOLE@@"},
}
# Path parameters of the routes that need no real resource behind them.
OTHER_IDS = {"name": "BAD_JSON", "id": "01JP3XKD8Y4V6T2M9Q0R5S7W1Z"}
BODY_ROUTES = [route for route in ROUTES if route.body is not None and route.mark == "REAL"]


def test_every_route_with_a_body_is_covered() -> None:
    assert {route.operation_id for route in BODY_ROUTES} == set(VALID_BODIES)


@pytest.fixture
async def paths(client: Client, auth_headers: dict[str, str]) -> dict[str, str]:
    """Each body route's path, with a real run waiting at its gate and a real session."""
    run = await start(client, auth_headers, GATED)
    question = await wait_for_question(client, auth_headers, run["id"])
    session = await client.post("/sessions", json={"content": "hi"}, headers=auth_headers)
    assert session.status_code == 201
    run_ids = {"id": run["id"], "qid": question["id"]}
    session_ids = {"id": (await session.get_json())["id"]}

    def ids(route: Route) -> dict[str, str]:
        if route.path.startswith("/runs/"):
            return run_ids
        return session_ids if route.path.startswith("/sessions") else OTHER_IDS

    return {route.operation_id: route.path.format(**ids(route)) for route in BODY_ROUTES}


def bodies(route: Route, value: str) -> list[bytes]:
    """The bad value in a field the route reads, under an unknown key, and as the whole body."""
    text = json.dumps(VALID_BODIES[route.operation_id])
    return [
        text.replace(HOLE, value).encode(),
        ('{"zz": ' + value + ", " + text[1:]).encode(),
        value.encode(),
    ]


@pytest.mark.parametrize(("case", "value", "words"), VALUES, ids=[v[0] for v in VALUES])
async def test_bad_json_is_a_400_naming_the_problem_on_every_route(
    client: Client,
    auth_headers: dict[str, str],
    paths: dict[str, str],
    case: str,
    value: str,
    words: str,
) -> None:
    headers = {**auth_headers, "Content-Type": "application/json"}
    for route in BODY_ROUTES:
        for body in bodies(route, value):
            response = await client.open(
                paths[route.operation_id], method=route.method, data=body, headers=headers
            )
            where = f"{case} on {route.operation_id}: {body[:60]!r}"
            assert response.status_code == 400, (where, await response.get_data(as_text=True))
            answer = await response.get_json()
            assert_envelope(answer, 400)
            assert words in answer["errors"][0]["detail"], (where, answer)


async def test_surrogates_are_named_by_field(client: Client, auth_headers: dict[str, str]) -> None:
    cases = [
        (rb'{"dot_source": "x", "vars": {"region": "\ud800"}}', "Field 'vars.region'"),
        (rb'{"dot_source": "x", "labels": ["ok", "\udfff"]}', "Field 'labels[1]'"),
        (rb'{"dot_source": "x", "vars": {"\ud800": "x"}}', "A key of field 'vars'"),
        (rb'{"\ud800": 1}', "A key of the JSON body"),
    ]
    for body, start_of_detail in cases:
        response = await client.post(
            "/runs", data=body, headers={**auth_headers, "Content-Type": "application/json"}
        )
        answer = await response.get_json()
        assert response.status_code == 400, answer
        assert answer["errors"][0]["detail"].startswith(start_of_detail), answer


async def test_raw_utf8_surrogates_and_invalid_bytes_are_refused(
    client: Client, auth_headers: dict[str, str]
) -> None:
    # UTF-8 cannot encode a surrogate; the standard parser would let one through.
    for body in (b'{"goal": "\xed\xa0\x80"}', b'{"goal": "\xc3"}'):
        response = await client.post(
            "/runs", data=body, headers={**auth_headers, "Content-Type": "application/json"}
        )
        answer = await response.get_json()
        assert response.status_code == 400, answer
        assert "not valid UTF-8" in answer["errors"][0]["detail"], answer


async def test_nesting_up_to_the_limit_and_valid_pairs_are_accepted(
    client: Client, auth_headers: dict[str, str]
) -> None:
    nested = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
    dot, digits = json.dumps(GATED), "7" * MAX_JSON_INT_DIGITS
    body = f'{{"dot_source": {dot}, "goal": "\\ud83d\\ude00 ok", "zz": {nested}, "n": {digits}}}'
    response = await client.post(
        "/runs", data=body.encode(), headers={**auth_headers, "Content-Type": "application/json"}
    )
    answer: Any = await response.get_json()
    assert response.status_code == 201, answer
    assert answer["goal"] == "\U0001f600 ok"


@pytest.mark.parametrize(("case", "value", "words"), VALUES, ids=[v[0] for v in VALUES])
async def test_tool_call_arguments_text_is_checked_the_same_way(
    client: Client, auth_headers: dict[str, str], case: str, value: str, words: str
) -> None:
    call = {"id": "c1", "name": "lookup", "arguments": '{"q": ' + value + "}"}
    body = {
        "messages": [
            {"role": "user", "content": [{"kind": "text", "data": "hi"}]},
            {"role": "assistant", "content": [{"kind": "tool_call", "data": call}]},
        ]
    }
    response = await client.post("/completions", json=body, headers=auth_headers)
    answer = await response.get_json()
    assert response.status_code == 400, (case, answer)
    detail = answer["errors"][0]["detail"]
    assert "messages[1].content[0].data.arguments" in detail, answer
    assert words in detail, answer


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.operation_id)
async def test_undecodable_path_and_query_values_are_never_a_500(
    client: Client, auth_headers: dict[str, str], route: Route
) -> None:
    """A percent-encoded surrogate or a lone byte where a path or query value goes."""
    bad = "%ED%A0%80x%FF"
    path = route.path.format(**dict.fromkeys(route.path_params, bad))
    query = "&".join(f"{name}={bad}" for name in ("workflow", "status", "after", "format"))
    headers = {**auth_headers, "Last-Event-ID": "\u00ff1"}
    response = await client.open(f"{path}?{query}", method=route.method, headers=headers)
    expected_500s = {501} if route.mark == "LATER" else set()  # LATER routes answer 501
    assert response.status_code < 500 or response.status_code in expected_500s, (
        await response.get_data(True)
    )
