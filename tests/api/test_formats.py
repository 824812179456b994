"""YAML and TOML bodies parsed into JSON's values, and what is refused on the way."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from typing import Any

import msgspec
import pytest

from fabro.api.formats import MAX_DEPTH, MAX_VALUES, Dated, parse_text
from fabro.api.request import as_body
from fabro.errors import BadRequest


def refused(raw: bytes, kind: str) -> str:
    with pytest.raises(BadRequest) as caught:
        parse_text(raw, kind)
    return caught.value.detail


@pytest.mark.parametrize(
    ("raw", "kind", "value"),
    [
        (b"a: 1\nb: [x, 2.5, true, null]\nc: {d: e}\n", "yaml", None),
        (b'a = 1\nb = ["x", 2.5, true]\n[c]\nd = "e"\n', "toml", None),
        (b"\xef\xbb\xbfa: 1\n", "yaml", {"a": 1}),  # a byte-order mark is allowed
        (b"a: '2024-01-01'\nb: 'yes'\n", "yaml", {"a": "2024-01-01", "b": "yes"}),
        (b"a: |\n  line 1\n  line 2\n", "yaml", {"a": "line 1\nline 2\n"}),
    ],
)
def test_documents_become_json_values(raw: bytes, kind: str, value: Any) -> None:
    parsed = parse_text(raw, kind)
    if value is None:
        value = {
            "a": 1,
            "b": ["x", 2.5, True] + ([None] if kind == "yaml" else []),
            "c": {"d": "e"},
        }
    assert parsed == value and type(parsed) is dict


def test_dates_are_kept_and_marked() -> None:
    yaml_body = parse_text(b"a: 2024-01-01\nb: [2024-01-01T10:00:00Z]\n", "yaml")
    assert isinstance(yaml_body, Dated)
    assert yaml_body == {"a": date(2024, 1, 1), "b": [datetime(2024, 1, 1, 10, tzinfo=UTC)]}
    assert isinstance(parse_text(b"a = 07:32:00\n", "toml"), Dated)


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (
            b"a: !!binary aGk=\n",
            "YAML body has the tag '!!binary' at line 1; tags are not accepted.",
        ),
        (b"a: !!set {x}\n", "YAML body has the tag '!!set' at line 1; tags are not accepted."),
        (b"a:\n  b: !!map {}\n", "YAML body has the tag '!!map' at line 2; tags are not accepted."),
        (
            b"a: !<tag:example.com,2026:x> 1\n",
            "YAML body has the tag 'tag:example.com,2026:x' at line 1; tags are not accepted.",
        ),
        (
            b"!!python/name:os.system\n",
            "YAML body has the tag '!!python/name:os.system' at line 1; tags are not accepted.",
        ),
        (b"a: &x 1\nb: *x\n", "YAML body has an alias (*x) at line 2; aliases are not accepted."),
        (
            b"a: 1\n---\nb: 2\n",
            "Malformed YAML body at line 2, column 1: expected a single"
            " document in the stream, but found another document.",
        ),
        (b"yes: 1\n", "Key True of the YAML body must be a string (quote it)."),
        (
            b"a: {[1]: 2}\n",
            "Malformed YAML body at line 1, column 5: while constructing a mapping,"
            " found unhashable key.",
        ),
        (b"a: [1, .inf]\n", "Field 'a[1]' has inf, which is not a JSON number."),
        (
            b'a: "\\ud800"\n',
            "Malformed YAML body at line 1, column 7: while parsing a quoted scalar,"
            " found invalid Unicode character escape code.",
        ),
        (b"a: \xff\n", "Malformed YAML body: not valid UTF-8 at byte 3."),
        (
            b"a: " + b"9" * 5000 + b"\n",
            "Malformed YAML body: Exceeds the limit (4300 digits) for"
            " integer string conversion: value has 5000 digits; use sys.set_int_max_str_digits()"
            " to increase the limit.",
        ),
    ],
)
def test_yaml_refusals(raw: bytes, detail: str) -> None:
    assert refused(raw, "yaml") == detail


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b"a = [1, -inf]\n", "Field 'a[1]' has -inf, which is not a JSON number."),
        (b'a = "\xff"\n', "Malformed TOML body: not valid UTF-8 at byte 5."),
        (b"a = 1\na = 2\n", "Malformed TOML body: Cannot overwrite a value (at line 2, column 6)."),
    ],
)
def test_toml_refusals(raw: bytes, detail: str) -> None:
    assert refused(raw, "toml") == detail


@pytest.mark.parametrize("kind", ["yaml", "toml"])
def test_depth_is_bounded(kind: str) -> None:
    def nested(levels: int) -> bytes:
        prefix = "a: " if kind == "yaml" else "a = "
        return (prefix + "[" * levels + "]" * levels + "\n").encode()

    assert parse_text(nested(MAX_DEPTH - 1), kind)  # with the top mapping: MAX_DEPTH levels
    assert refused(nested(MAX_DEPTH), kind) == f"{kind.upper()} body nests deeper than 64 levels."
    started = time.perf_counter()
    refused(nested(100_000), kind)  # by libyaml's own limit, or by the count of values
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("kind", ["yaml", "toml"])
def test_the_number_of_values_is_bounded_before_the_work(kind: str) -> None:
    values = ",".join(["1"] * (2 * 1024 * 1024))  # 4 MiB, two million values
    raw = (f"a: [{values}]\n" if kind == "yaml" else f"a = [{values}]\n").encode()
    started = time.perf_counter()
    assert refused(raw, kind) == f"{kind.upper()} body has more than {MAX_VALUES} values."
    assert time.perf_counter() - started < 2.0


def test_toml_strings_do_not_count_as_values() -> None:
    text = "[x=1, y=2]," * 20_000  # 60,000 of `[`, `=` and `,`, inside a string
    assert parse_text(f'a = """{text}"""\nb = \'{text}\'\n'.encode(), "toml")["b"] == text


class Free(msgspec.Struct):
    name: str
    options: dict[str, Any] | None = None


def test_a_date_in_a_free_form_field_is_refused_after_validation() -> None:
    body = parse_text(b"name: n\noptions:\n  a: [1, {when: 2024-01-01}]\n", "yaml")
    with pytest.raises(BadRequest) as caught:
        as_body(body, Free)
    assert caught.value.detail == (
        "Field 'options.a[1].when' is a date or time; quote it to send it as text."
    )
    # The typed check comes first: a date where a string must be is that field's error.
    with pytest.raises(BadRequest) as caught:
        as_body(parse_text(b"name: 2024-01-01\noptions: {when: 2024-01-01}\n", "yaml"), Free)
    assert caught.value.detail == "Field 'name' must be a string."
    assert as_body(parse_text(b"name: n\noptions: {when: '2024-01-01'}\n", "yaml"), Free) == Free(
        "n", {"when": "2024-01-01"}
    )
