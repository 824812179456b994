"""msgspec's validation errors as api.md §2 messages that name the field's path."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
import pytest
from msgspec import Meta

from fabro.api.bodies.common import Body
from fabro.api.bodies.explain import explain
from fabro.api.bodies.runs import LabelKey, LabelValue, NonBlank


class Where(Body):
    file: str
    line: int | None = None


class Sample(Body):
    name: NonBlank
    mode: Literal["a", "b"] | None = None
    title: Annotated[str, Meta(max_length=5)] | None = None
    items: Annotated[list[Where], Meta(min_length=1)] | None = None
    vars: dict[str, str] | None = None
    labels: dict[LabelKey, LabelValue] | None = None
    ratio: float | None = None
    size: Annotated[int, Meta(ge=0)] | None = None


def detail(body: dict[str, Any]) -> str:
    with pytest.raises(msgspec.ValidationError) as caught:
        msgspec.convert(body, Sample)
    return explain(str(caught.value), body)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, "Missing required field 'name'."),
        ({"name": None}, "Missing required field 'name'."),
        ({"name": 3}, "Field 'name' must be a string."),
        ({"name": " \n"}, "Field 'name' must not be empty."),
        ({"name": "n", "mode": "c"}, "Field 'mode' has unknown value 'c'."),
        ({"name": "n", "title": "longer"}, "Field 'title' must be at most 5 characters."),
        ({"name": "n", "items": []}, "Field 'items' must not be empty."),
        ({"name": "n", "items": "x"}, "Field 'items' must be an array."),
        ({"name": "n", "items": [{}]}, "Missing required field 'items[0].file'."),
        (
            {"name": "n", "items": [{"file": "f", "line": True}]},
            "Field 'items[0].line' must be an integer.",
        ),
        # A map's value: msgspec says `$.vars[...]`; the message names the key at fault.
        ({"name": "n", "vars": {"a": "1", "region": 2}}, "Field 'vars.region' must be a string."),
        ({"name": "n", "vars": []}, "Field 'vars' must be an object."),
        (
            {"name": "n", "labels": {"ok": "v", "k": "v" * 257}},
            "Field 'labels.k' must be at most 256 characters.",
        ),
        (
            {"name": "n", "labels": {"bad key": "v"}},
            "Key 'bad key' of field 'labels' must match ^[A-Za-z0-9_.-]{1,64}$.",
        ),
        ({"name": "n", "ratio": "x"}, "Field 'ratio' must be a number."),
        ({"name": "n", "size": -1}, "Field 'size' must be >= 0."),
        ({"name": "n", "ratio": 10**400}, "Field 'ratio' is out of range."),
    ],
)
def test_messages_name_the_field(body: dict[str, Any], expected: str) -> None:
    assert detail(body) == expected


def test_an_unknown_message_is_kept_whole() -> None:
    detail = explain("Something new - at `$.a.b`", {})
    assert detail == "Field 'a.b' is invalid: Something new."


def test_a_long_key_is_cut_in_the_message() -> None:
    key = "k" * 10_000
    message = detail({"labels": {key: "v"}})
    assert message == f"Key '{'k' * 64}…' of field 'labels' must match ^[A-Za-z0-9_.-]{{1,64}}$."
