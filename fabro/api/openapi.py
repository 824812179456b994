"""The OpenAPI 3.1 document, generated from the route table and the body types."""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any

import msgspec

from fabro import __version__
from fabro.api.bodies import FRAMES, STRUCTS, TYPES
from fabro.api.formats import MEDIA_TYPES
from fabro.api.operations import Component, Param, Route, component_name
from fabro.api.routes import ROUTES
from fabro.errors import STATUS_TITLES

_ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}


def _ref(component: Component) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{component_name(component)}"}


def _parameter(param: Param) -> dict[str, Any]:
    if param.ref:
        return {"$ref": f"#/components/parameters/{param.ref}"}
    spec: dict[str, Any] = {
        "name": param.name,
        "in": param.where,
        "required": param.where == "path",
        "schema": param.schema,
    }
    if param.description:
        spec["description"] = param.description
    return spec


def _success(route: Route, status: int) -> dict[str, Any]:
    description = "Success" if status == route.status else "Success (idempotent replay)"
    if status == 206:
        description = "Partial content: the byte range asked for"
    if route.response is None and route.media == "application/json":
        return {"description": description}
    content: dict[str, Any] = {}
    if route.media == "image/svg+xml":
        content = {
            "image/svg+xml": {"schema": {"type": "string"}},
            "image/png": {"schema": {"type": "string", "contentEncoding": "binary"}},
        }
    elif route.media == "text/plain":  # a file: text when it is UTF-8, else bytes
        content = {
            "text/plain": {"schema": {"type": "string"}},
            "application/octet-stream": {"schema": {"type": "string", "contentEncoding": "binary"}},
        }
    elif route.media == "application/json" and route.response is not None:
        schema: dict[str, Any] = _ref(route.response)
        if route.nullable:
            schema = {"oneOf": [schema, {"type": "null"}]}
        content = {"application/json": {"schema": schema}}
    if route.events:
        # OpenAPI 3.1 has no item schema for streams: as is usual (and as OpenAPI 3.2 spells
        # with itemSchema), the schema describes one event: its id, event and data fields.
        content["text/event-stream"] = {"schema": {"$ref": f"#/components/schemas/{route.events}"}}
    response: dict[str, Any] = {"description": description, "content": content}
    if route.location and status == route.status:
        response["headers"] = {
            "Location": {
                "description": "The new resource, e.g. /runs/<id>.",
                "required": True,
                "schema": {"type": "string"},
            }
        }
    if route.media == "text/plain":
        response["headers"] = _file_headers(status)
    return response


def _file_headers(status: int) -> dict[str, Any]:
    """What a stage artifact answer says of the file besides its bytes."""
    headers: dict[str, Any] = {
        "Fabro-Artifact-Size": {
            "description": "The file's size when it was read: a follower asks for the bytes "
            "from there on next (Range: bytes=<size>-).",
            "required": True,
            "schema": {"type": "integer", "minimum": 0},
        }
    }
    if status == 206:
        headers["Content-Range"] = {
            "description": "bytes FIRST-LAST/SIZE",
            "required": True,
            "schema": {"type": "string"},
        }
    return headers


def _errors(route: Route) -> dict[str, Any]:
    statuses = [400, 404, 500] if route.public else [400, 401, 403, 404, 405, 409, 429, 500]
    if route.body:
        statuses += [413, 415]
    if route.mark == "LATER":
        statuses.append(501)
    if route.operation_id in {"retrieveRunGraph", "createCompletion"}:
        statuses.append(502)
    if route.operation_id == "streamRunEvents":
        statuses.append(410)
    if route.operation_id == "retrieveStageArtifact":
        statuses.append(416)
    if route.operation_id == "startRun":
        statuses.append(422)  # policy_blocked: a command stage the policy blocks as written
    if route.operation_id == "triggerWorkflowSchedule":
        statuses.append(422)  # the run was refused (its workflow no longer parses, ...)
    return {
        str(status): {
            "description": STATUS_TITLES[status],
            "content": {"application/json": {"schema": _ERROR_REF}},
        }
        for status in sorted(set(statuses))
    }


def _operation(route: Route) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "tags": [route.tag],
        "summary": route.summary,
        "responses": {
            **{str(status): _success(route, status) for status in (route.status, *route.also)},
            **_errors(route),
        },
    }
    path_params = [Param(name, "path") for name in route.path_params]
    params = [_parameter(p) for p in (*path_params, *route.all_params)]
    if params:
        operation["parameters"] = params
    if route.body:
        # Each media type fabro.api.request reads, with the one schema (YAML and TOML bodies
        # are validated as the JSON they stand for).
        body = route.body
        operation["requestBody"] = {
            "required": True,
            "content": {media: {"schema": _ref(body)} for media in MEDIA_TYPES},
        }
    if route.public:
        operation["security"] = []
    if route.role is not None:  # the least role that may call it (docs/governance.md)
        operation["x-fabro-role"] = route.role.label
    if route.mark == "LATER":
        operation["description"] = "Not implemented in this version: answers 501."
    return operation


def _schemas() -> dict[str, Any]:
    """Every component schema: the structs' and named types' as msgspec generates them, with
    what the types cannot say (``SCHEMA_EXTRA``), and the SSE frames."""
    names = [*STRUCTS, *TYPES]
    types = [*STRUCTS.values(), *TYPES.values()]
    inline, schemas = msgspec.json.schema_components(
        types, ref_template="#/components/schemas/{name}"
    )
    for name, schema in zip(names, inline, strict=True):
        if name in TYPES:
            schemas[name] = schema
    for name, struct in STRUCTS.items():
        schema = schemas[name]
        schema.pop("title", None)  # the component's name says it
        if "description" in schema:
            schema["description"] = inspect.cleandoc(schema["description"])
        schema.update(struct.SCHEMA_EXTRA)
    return {**dict(sorted(schemas.items())), **FRAMES}


@cache
def openapi_document() -> dict[str, Any]:
    """The whole document; built once per process (it depends only on code)."""
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "fabro API",
            "version": __version__,
            "description": "Durable workflow runs from Graphviz DOT graphs.",
        },
        "servers": [{"url": "http://127.0.0.1:3000"}],
        "security": [{"BearerAuth": []}, {"mTLS": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "BearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                # As in the original: mutual TLS modelled as a placeholder header, never read.
                "mTLS": {"type": "apiKey", "in": "header", "name": "X-mTLS-Client-CN"},
            },
            "parameters": {
                "PageLimit": {
                    "name": "page[limit]",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "default": 20, "minimum": 1, "maximum": 100},
                    "description": "Items per page; values outside 1..100 are clamped.",
                },
                "PageOffset": {
                    "name": "page[offset]",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "default": 0, "minimum": 0},
                },
            },
            "schemas": _schemas(),
        },
    }
