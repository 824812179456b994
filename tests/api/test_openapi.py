"""/openapi.json is valid OpenAPI 3.1 and matches the app's routes exactly."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from quart import Quart
from quart.typing import TestClientProtocol as Client
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from fabro.api.routes import ROUTES
from fabro.events.sse import Frame, FrameParser, parse_stream, split_lines
from tests.api.runs_helpers import LINEAR, start, wait_for


async def test_document_is_valid_openapi_31(client: Client) -> None:
    document = await (await client.get("/openapi.json")).get_json()
    assert document["openapi"].startswith("3.1")
    validate(document)


async def test_every_app_route_is_documented_and_vice_versa(app: Quart, client: Client) -> None:
    document = await (await client.get("/openapi.json")).get_json()
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    routed = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)  # <path:name> is {name}
        for method in rule.methods or ():
            if method not in ("HEAD", "OPTIONS"):
                routed.add((method, path))
    assert documented == routed
    assert len(documented) == 55 and len(document["paths"]) == 49


async def test_operation_ids_are_unique_and_match_the_table(client: Client) -> None:
    document = await (await client.get("/openapi.json")).get_json()
    ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert sorted(ids) == sorted(route.operation_id for route in ROUTES)
    assert len(set(ids)) == len(ids)


async def test_public_routes_declare_no_security(client: Client) -> None:
    document = await (await client.get("/openapi.json")).get_json()
    for path in ("/", "/health", "/openapi.json"):
        assert document["paths"][path]["get"]["security"] == []
    assert "security" not in document["paths"]["/runs"]["get"]
    schemes = document["components"]["securitySchemes"]
    assert schemes["mTLS"] == {"type": "apiKey", "in": "header", "name": "X-mTLS-Client-CN"}


def frame_validator(document: dict[str, Any], name: str) -> Callable[[Frame], None]:
    """Check one SSE frame against the document's event schema ``name``, data included."""
    registry = Registry().with_resource("urn:fabro", DRAFT202012.create_resource(document))
    schema = {"$ref": f"urn:fabro#/components/schemas/{name}"}
    frame_schema = Draft202012Validator(schema, registry=registry)
    data_ref = document["components"]["schemas"][name]["properties"]["data"]["contentSchema"]
    data_schema = Draft202012Validator(
        {"$ref": "urn:fabro" + data_ref["$ref"]} if "$ref" in data_ref else data_ref,
        registry=registry,
    )

    def check(frame: Frame) -> None:
        # As OpenAPI tools read an event: a frame without an event: line is a "message".
        fields = {"event": frame.event or "message", "data": frame.data}
        if frame.seq is not None:
            fields["id"] = str(frame.seq)
        frame_schema.validate(fields)
        data_schema.validate(json.loads(frame.data))

    return check


async def test_idempotent_replay_200_is_documented(
    client: Client, auth_headers: dict[str, str]
) -> None:
    # Found by API fuzzing: a replayed POST /runs answers 200, which the document left out.
    document = await (await client.get("/openapi.json")).get_json()
    responses = document["paths"]["/runs"]["post"]["responses"]
    assert responses["200"]["content"] == responses["201"]["content"]
    assert "Location" in responses["201"]["headers"]
    headers = {**auth_headers, "Idempotency-Key": "fuzz-1"}
    body = {"dot_source": LINEAR}
    first = await client.post("/runs", json=body, headers=headers)
    replay = await client.post("/runs", json=body, headers=headers)
    assert (first.status_code, replay.status_code) == (201, 200)


async def test_sse_routes_document_each_event(client: Client, auth_headers: dict[str, str]) -> None:
    # Found by API fuzzing: the streams were documented as one string, which OpenAPI 3.1
    # tools read as the schema of each event; and the streaming completion (the default) was
    # not documented at all.
    document = await (await client.get("/openapi.json")).get_json()
    for path, method, name in (
        ("/runs/{id}/events", "get", "RunEventFrame"),
        ("/sessions/{id}/events", "get", "SessionEventFrame"),
        ("/completions", "post", "CompletionStreamFrame"),
    ):
        content = document["paths"][path][method]["responses"]["200"]["content"]
        assert content["text/event-stream"]["schema"] == {"$ref": f"#/components/schemas/{name}"}

    run = await start(client, auth_headers, LINEAR)
    await wait_for(client, auth_headers, run["id"], {"completed"})
    events = await client.get(f"/runs/{run['id']}/events", headers=auth_headers)
    frames = list(parse_stream(split_lines(await events.get_data())))
    check = frame_validator(document, "RunEventFrame")
    for frame in frames:
        check(frame)
    assert len(frames) > 3

    completion = await client.post(
        "/completions",
        json={"messages": [{"role": "user", "content": [{"kind": "text", "data": "Hi"}]}]},
        headers=auth_headers,
    )
    assert completion.headers["Content-Type"] == "text/event-stream"
    frames = list(parse_stream(split_lines(await completion.get_data())))
    check = frame_validator(document, "CompletionStreamFrame")
    for frame in frames:
        check(frame)
    assert frames

    session = await client.post("/sessions", json={"content": "Hi"}, headers=auth_headers)
    session_id = (await session.get_json())["id"]
    check = frame_validator(document, "SessionEventFrame")
    parser = FrameParser()
    seen: list[Frame] = []
    pending = ""
    async with client.request(f"/sessions/{session_id}/events", headers=auth_headers) as stream:
        while not seen or seen[-1].event != "done":
            async with asyncio.timeout(5):
                pending += (await stream.receive()).decode()
            *lines, pending = pending.split("\n")
            seen += [f for line in lines if (f := parser.feed(line)) is not None]
        await stream.disconnect()
    for frame in seen:
        check(frame)
