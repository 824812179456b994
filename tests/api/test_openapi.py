"""/openapi.json is valid OpenAPI 3.1 and matches the app's routes exactly."""

from __future__ import annotations

import asyncio
import inspect
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

from fabro.app import not_implemented
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
        if rule.endpoint == "static" or rule.endpoint.startswith("ui."):
            continue  # the web UI's pages are HTML for browsers, not API operations
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)  # <path:name> is {name}
        for method in rule.methods or ():
            if method not in ("HEAD", "OPTIONS"):
                routed.add((method, path))
    assert documented == routed
    assert len(documented) == OPERATIONS
    assert len(document["paths"]) == PATHS


# The operations and paths of the route table: the original API's 55 (on 49 paths), and
# fabro's own (operations, paths).
FABRO_ROUTES = {
    "receipts (issue 18)": (4, 4),
    "webhooks": (8, 5),
    "audit log and /events": (3, 3),
    "schedules": (9, 6),
    "secrets": (4, 3),
}
OPERATIONS = 55 + sum(operations for operations, _ in FABRO_ROUTES.values())
PATHS = 49 + sum(paths for _, paths in FABRO_ROUTES.values())


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


async def test_each_documented_operation_reaches_its_handler(app: Quart, client: Client) -> None:
    """The document is built from the route table; here each operation is checked against
    what the app really does with a request: the rule it matches, the view registered for
    it and that view's own parameters, and whether it is implemented at all."""
    document = await (await client.get("/openapi.json")).get_json()
    adapter = app.url_map.bind("localhost")
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(set(ids)) == len(ids) == OPERATIONS
    for method, path, operation in operations(document):
        names = [p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"]
        assert names == re.findall(r"{(\w+)}", path), path
        url = path.format(**{name: f"sample-{name}" for name in names})
        endpoint, args = adapter.match(url, method)
        assert endpoint == operation["operationId"], (method, path)
        assert args == {name: f"sample-{name}" for name in names}, (method, path)
        view = app.view_functions[endpoint]
        later = "Not implemented" in operation.get("description", "")
        assert (view is not_implemented) == later, (method, path)
        if not later:  # the handler takes exactly the documented path parameters
            assert list(inspect.signature(view).parameters) == names, (method, path)


def anchored(schema: Any) -> Any:
    """``schema`` with its local `#/...` references pointing into the document (urn:fabro)."""
    if isinstance(schema, list):
        return [anchored(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        key: "urn:fabro" + value if key == "$ref" and value.startswith("#") else anchored(value)
        for key, value in schema.items()
    }


def validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    registry = Registry().with_resource("urn:fabro", DRAFT202012.create_resource(document))
    return Draft202012Validator(anchored(schema), registry=registry)


async def test_the_documented_examples_fit_their_schemas(client: Client) -> None:
    document = await (await client.get("/openapi.json")).get_json()
    checked = 0
    for name, schema in document["components"]["schemas"].items():
        for example in schema.get("examples", []):
            validator(document, {"$ref": f"#/components/schemas/{name}"}).validate(example)
            checked += 1
    assert checked >= 6


class Contract:
    """One operation's request and response schemas, from the served document."""

    def __init__(self, document: dict[str, Any], method: str, path: str) -> None:
        self.document = document
        self.operation = document["paths"][path][method.lower()]
        self.where = f"{method} {path}"

    def request_errors(self, body: Any) -> list[str]:
        schema = self.operation["requestBody"]["content"]["application/json"]["schema"]
        return [error.message for error in validator(self.document, schema).iter_errors(body)]

    async def check(self, response: Any) -> Any:
        """The status is documented and the JSON body fits the schema documented for it."""
        status = str(response.status_code)
        assert status in self.operation["responses"], (self.where, status)
        documented = self.operation["responses"][status].get("content")
        data = await response.get_data()
        if documented is None:
            assert data == b"", (self.where, status)
            return None
        body = json.loads(data)
        validator(self.document, documented["application/json"]["schema"]).validate(body)
        return body


async def test_real_exchanges_fit_the_document(
    client: Client, auth_headers: dict[str, str]
) -> None:
    """Requests known to be good are accepted by both the document and the server, those known
    to be bad are refused by both, and every answer fits the schema of its status."""
    document = await (await client.get("/openapi.json")).get_json()
    start_run = Contract(document, "POST", "/runs")
    good = {"dot_source": LINEAR, "goal": "Say hello", "labels": {"team": "web"}}
    assert start_run.request_errors(good) == []
    created = await start_run.check(await client.post("/runs", json=good, headers=auth_headers))
    for bad in (
        {},
        {"dot_source": 5},
        {"dot_source": LINEAR, "workflow": "x"},
        {"dot_source": LINEAR, "vars": {"a": 1}},
        {"dot_source": LINEAR, "title": "x" * 201},
    ):
        assert start_run.request_errors(bad), bad
        response = await client.post("/runs", json=bad, headers=auth_headers)
        assert response.status_code == 400, bad
        await start_run.check(response)
    await wait_for(client, auth_headers, created["id"], {"completed"})
    run_path = f"/runs/{created['id']}"
    for path, url in (
        ("/", "/"),
        ("/health", "/health"),
        ("/runs", "/runs"),
        ("/runs/{id}", run_path),
        ("/runs/{id}", "/runs/no-such-run"),
        ("/runs/{id}/stages", f"{run_path}/stages"),
        ("/runs/{id}/questions", f"{run_path}/questions"),
        ("/runs/{id}/checkpoint", f"{run_path}/checkpoint"),
        ("/runs/{id}/usage", f"{run_path}/usage"),
        ("/workflows", "/workflows"),
        ("/models", "/models"),
    ):
        await Contract(document, "GET", path).check(await client.get(url, headers=auth_headers))
    unauthorized = await client.get("/runs")
    assert unauthorized.status_code == 401
    await Contract(document, "GET", "/runs").check(unauthorized)
    cancel = Contract(document, "POST", "/runs/{id}/cancel")
    assert (await cancel.check(await client.post(f"{run_path}/cancel", headers=auth_headers)))[
        "errors"
    ][0]["status"] == "409"


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
