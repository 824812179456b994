"""Body and query parsing helpers through a real request cycle (api.md §2, §3)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from fabro.api.bodies.common import Body, Page
from fabro.api.pagination import page_params, paginate
from fabro.api.request import UNSUPPORTED, query_enum_list, read_body
from tests.api.envelope import assert_envelope


class Echo(Body):
    guidance: str
    count: int | None = None
    flag: bool | None = None
    vars: dict[str, str] | None = None
    keys: list[str] | None = None


@pytest.fixture
def echo(app: Quart) -> None:
    async def echo_view() -> dict[str, Any]:
        body = await read_body(Echo)
        return {"guidance": body.guidance, "count": body.count, "vars": body.vars}

    async def page_view() -> dict[str, Any]:
        params = page_params()
        statuses = query_enum_list("status", ("queued", "running"))
        listing = msgspec.to_builtins(paginate(Page[int], list(range(250))))
        return {"limit": params.limit, "offset": params.offset, "status": statuses, **listing}

    app.add_url_rule("/echo", "echo", echo_view, methods=["POST"])
    app.add_url_rule("/paged", "paged", page_view)


POST_CASES = [
    ({"Content-Type": "text/plain"}, b"{}", 415, UNSUPPORTED),
    ({}, b"{}", 415, UNSUPPORTED),
    ({"Content-Type": "application/json"}, b"", 400, "Request body is required."),
    (
        {"Content-Type": "application/json"},
        b'{"a": 1,\n  "b": }',
        400,
        "Malformed JSON body at line 2, column 8.",
    ),
    (
        {"Content-Type": "application/json"},
        b"\xff\xfe",
        400,
        "Malformed JSON body at line 1, column 1.",
    ),
    ({"Content-Type": "application/json"}, b"[1, 2]", 400, "Request body must be a JSON object."),
    ({"Content-Type": "application/json"}, b"{}", 400, "Missing required field 'guidance'."),
    (
        {"Content-Type": "application/json"},
        b'{"guidance": 3}',
        400,
        "Field 'guidance' must be a string.",
    ),
    (
        {"Content-Type": "application/json"},
        b'{"guidance": "g", "count": true}',
        400,
        "Field 'count' must be an integer.",
    ),
    (
        {"Content-Type": "application/json"},
        b'{"guidance": "g", "flag": "yes"}',
        400,
        "Field 'flag' must be a boolean.",
    ),
    (
        {"Content-Type": "application/json"},
        b'{"guidance": "g", "vars": {"region": 1}}',
        400,
        "Field 'vars.region' must be a string.",
    ),
    (
        {"Content-Type": "application/json"},
        b'{"guidance": "g", "vars": []}',
        400,
        "Field 'vars' must be an object.",
    ),
    (
        {"Content-Type": "application/json"},
        b'{"guidance": "g", "keys": [1]}',
        400,
        "Field 'keys[0]' must be a string.",
    ),
]


@pytest.mark.usefixtures("echo")
@pytest.mark.parametrize(("headers", "data", "status", "detail"), POST_CASES)
async def test_body_errors(
    client: Client,
    auth_headers: dict[str, str],
    headers: dict[str, str],
    data: bytes,
    status: int,
    detail: str,
) -> None:
    response = await client.post("/echo", data=data, headers={**auth_headers, **headers})
    assert response.status_code == status
    assert_envelope(await response.get_json(), status, detail)


@pytest.mark.usefixtures("echo")
async def test_valid_body_with_charset_and_unknown_fields(
    client: Client, auth_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/echo",
        data=b'{"guidance": "g", "count": 2, "vars": {"a": "b"}, "unknown": 1}',
        headers={**auth_headers, "Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200
    assert (await response.get_json())["vars"] == {"a": "b"}


@pytest.mark.usefixtures("echo")
async def test_body_over_10_mib_is_413(client: Client, auth_headers: dict[str, str]) -> None:
    big = b'{"guidance": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    response = await client.post(
        "/echo", data=big, headers={**auth_headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert_envelope(await response.get_json(), 413, "Request body too large.")


PAGE_CASES = [
    ("", 20, 0, True),
    ("?page[limit]=0", 1, 0, True),
    ("?page[limit]=1000", 100, 0, True),
    ("?page[limit]=-5", 1, 0, True),
    ("?page[limit]=50&page[offset]=200", 50, 200, False),
    ("?page[offset]=249", 20, 249, False),
    ("?page[offset]=248&page[limit]=1", 1, 248, True),
]


@pytest.mark.usefixtures("echo")
@pytest.mark.parametrize(("query", "limit", "offset", "has_more"), PAGE_CASES)
async def test_pagination(
    client: Client,
    auth_headers: dict[str, str],
    query: str,
    limit: int,
    offset: int,
    has_more: bool,
) -> None:
    body = await (await client.get("/paged" + query, headers=auth_headers)).get_json()
    assert (body["limit"], body["offset"], body["meta"]["has_more"]) == (limit, offset, has_more)
    assert body["data"] == list(range(250))[offset : offset + limit]


@pytest.mark.usefixtures("echo")
@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("?page[limit]=x", "Query parameter 'page[limit]' must be an integer."),
        ("?page[offset]=-1", "Query parameter 'page[offset]' must be >= 0."),
        ("?page[offset]=1.5", "Query parameter 'page[offset]' must be an integer."),
        ("?status=queued,nope", "Query parameter 'status' has unknown value 'nope'."),
    ],
)
async def test_bad_query_parameters(
    client: Client, auth_headers: dict[str, str], query: str, detail: str
) -> None:
    response = await client.get("/paged" + query, headers=auth_headers)
    assert response.status_code == 400
    assert_envelope(await response.get_json(), 400, detail)
