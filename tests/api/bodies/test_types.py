"""The body types: every route's body is one, their examples fit them, and the document's
components are generated from them."""

from __future__ import annotations

import inspect
from types import UnionType
from typing import Union, get_args, get_origin, get_type_hints

import msgspec
import pytest
from quart import Response

from fabro.api.bodies import FRAMES, STRUCTS, TYPES
from fabro.api.bodies.runs import StartRunRequest
from fabro.api.openapi import openapi_document
from fabro.api.routes import ROUTES
from fabro.app import HANDLERS
from fabro.errors import BadRequest


def test_every_body_a_route_names_is_a_type() -> None:
    for route in ROUTES:
        for component in (route.body, route.response):
            if isinstance(component, type):  # a struct: the component of its name is it
                assert STRUCTS[component.__name__] is component, route.operation_id
            else:  # a name: of a component that is no struct
                assert component is None or component in TYPES, route.operation_id
        assert route.events is None or route.events in FRAMES, route.operation_id
        # Request bodies are structs: the handler reads them with the same type.
        assert route.body is None or isinstance(route.body, type), route.operation_id


def test_each_handler_returns_the_body_its_route_documents() -> None:
    """The route's response struct is what its handler is declared (and checked by mypy) to
    return; a handler builds a Response itself only to set another status or a header."""
    for route in ROUTES:
        handler = HANDLERS.get(route.operation_id)
        if handler is None or route.media != "application/json":
            continue
        returned = get_type_hints(inspect.unwrap(handler))["return"]
        bodies = (
            set(get_args(returned)) if get_origin(returned) in (Union, UnionType) else {returned}
        )
        assert (type(None) in bodies) == route.nullable, route.operation_id
        if route.response is None or route.status != 200:
            assert bodies == {Response}, route.operation_id
        elif isinstance(route.response, str):  # a plain type: JSON values
            assert TYPES[route.response] in bodies, route.operation_id
        else:
            assert route.response in bodies, route.operation_id


@pytest.mark.parametrize("name", sorted(n for n, s in STRUCTS.items() if s.SCHEMA_EXTRA))
def test_documented_examples_convert_to_their_type(name: str) -> None:
    struct = STRUCTS[name]
    for example in struct.SCHEMA_EXTRA.get("examples", []):
        msgspec.convert(example, struct)


def test_a_struct_field_shows_in_the_document() -> None:
    schemas = openapi_document()["components"]["schemas"]
    title = schemas["StartRunRequest"]["properties"]["title"]
    assert {"type": "string", "maxLength": 200} in title["anyOf"]
    assert schemas["EdgeRef"]["required"] == ["from", "to"]  # a field named by its wire name
    assert "title" not in schemas["RunListItem"]  # msgspec's title: the component's name
    assert schemas["RunListItem"]["description"].startswith("The original's board item")


def test_a_rule_across_fields_is_checked_by_the_type() -> None:
    with pytest.raises(BadRequest, match="Exactly one of dot_source or workflow"):
        msgspec.convert({"dot_source": "digraph {}", "workflow": "w"}, StartRunRequest)
    assert msgspec.convert({"workflow": "w", "dot_source": None}, StartRunRequest).workflow == "w"
