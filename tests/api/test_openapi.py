"""/openapi.json is valid OpenAPI 3.1 and matches the app's routes exactly."""

from __future__ import annotations

from openapi_spec_validator import validate
from quart import Quart
from quart.typing import TestClientProtocol as Client

from fabro.api.routes import ROUTES


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
        path = rule.rule.replace("<", "{").replace(">", "}")
        for method in rule.methods or ():
            if method not in ("HEAD", "OPTIONS"):
                routed.add((method, path))
    assert documented == routed
    assert len(documented) == 53 and len(document["paths"]) == 47


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
