"""fabro.jsontext writes the standard library's compact JSON, faster."""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fabro import jsontext

standard = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

# JSON-like values as the engine stores them: any text (control characters, quotes, non-ASCII,
# astral characters), integers of any size, floats that print the same way in both (below).
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))
scalars = st.none() | st.booleans() | st.integers() | texts
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(texts, inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
    ),
    max_leaves=20,
)


@given(json_values)
def test_the_text_is_the_standard_librarys(value: Any) -> None:
    assert jsontext.dumps(value) == standard(value)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_read_back_equal(number: float) -> None:
    # The same number; the form may differ (orjson writes 1e-7 where Python writes 1e-07).
    assert json.loads(jsontext.dumps(number)) == number


def test_what_orjson_refuses_is_written_as_the_standard_library_writes_it() -> None:
    for value in ({1: "a", "b": 2}, 2**80, [-(2**70)]):
        assert jsontext.dumps(value) == standard(value)


def test_a_string_that_is_not_unicode_is_the_standard_librarys_text() -> None:
    lone_surrogate = "a\ud800b"
    assert jsontext.dumps(lone_surrogate) == standard(lone_surrogate)


def test_what_the_standard_library_refuses_is_refused() -> None:
    @dataclasses.dataclass
    class Point:
        x: int

    for value in (Point(1), datetime.date(2026, 12, 1), {"when": datetime.datetime.now()}, {1, 2}):
        with pytest.raises(TypeError):
            jsontext.dumps(value)


def test_nan_and_infinities_become_null() -> None:
    assert jsontext.dumps([math.nan, math.inf, -math.inf]) == "[null,null,null]"
