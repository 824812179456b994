"""msgspec's validation errors in api.md §2's words: the message names the field's path.

msgspec says ``Expected `str`, got `int` - at `$.location.file```; the API answers
``Field 'location.file' must be a string.`` The path of a map's value (``$.vars[...]``) is
completed with the first key whose value is at fault.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any

_WHERE = re.compile(r" - at `(key` in `)?\$(.*)`$")
_PART = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_MISSING = re.compile(r"Object missing required field `(.+)`$")
_TYPE = re.compile(r"Expected `([^`]+)`, got `([^`]+)`$")
_LENGTH = re.compile(r"Expected `(\w+)` of length ([<>]=) (\d+)$")
_BOUND = re.compile(r"Expected `(\w+)` ([<>]=?) (\S+)$")
_REGEX = re.compile(r"Expected `str` matching regex '(.*)'$")
_VALUE = re.compile(r"Invalid (?:enum )?value (.+)$")
_ARTICLES = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "a boolean",
    "object": "an object",
    "array": "an array",
}
_NON_BLANK = r"\S"  # the pattern of NonBlank (bodies/runs.py)
Path = list[str | int | None]  # None: a map's value, key unknown


def explain(message: str, body: Any) -> str:
    """The 400 detail for msgspec's ``message`` about ``body`` (the parsed request)."""
    where = _WHERE.search(message)
    what = message[: where.start()] if where else message
    on_key = bool(where and where.group(1))
    path = _parse(where.group(2) if where else "")
    if found := _MISSING.match(what):
        return f"Missing required field '{_dotted([*path, found.group(1)], body, None)}'."
    if (found := _TYPE.match(what)) and found.group(2) == "null":
        return f"Missing required field '{_dotted(path, body, _is_null)}'."
    rule, at_fault = _rule(what)
    if on_key:
        key = _first_bad_key(_child_at(body, path), at_fault)
        owner = "A key of field" if key is None else f"Key '{_shown(key)}' of field"
        return f"{owner} '{_dotted(path, body, None)}' {rule}."
    return f"Field '{_dotted(path, body, at_fault)}' {rule}."


def _rule(what: str) -> tuple[str, Callable[[Any], bool] | None]:
    """What the value must be, and how to tell a map's value at fault."""
    if found := _TYPE.match(what):
        kinds = [kind for kind in found.group(1).split(" | ") if kind != "null"]
        got = found.group(2)
        expected = " or ".join(_ARTICLES.get(kind, kind) for kind in kinds)
        return f"must be {expected}", lambda value: _json_kind(value) == got
    if found := _LENGTH.match(what):
        kind, op, size = found.group(1), found.group(2), int(found.group(3))
        unit = "characters" if kind == "str" else "items"
        if op == ">=" and size == 1:
            return "must not be empty", lambda value: len(value) < 1
        if op == "<=":
            return f"must be at most {size} {unit}", lambda value: len(value) > size
        return f"must be at least {size} {unit}", lambda value: len(value) < size
    if found := _REGEX.match(what):
        pattern = found.group(1).replace("\\\\", "\\")
        if pattern == _NON_BLANK:
            return "must not be empty", lambda value: not value.strip()
        return f"must match {pattern}", lambda value: re.search(pattern, value) is None
    if found := _BOUND.match(what):
        return f"must be {found.group(2)} {found.group(3)}", None
    if what == "Number out of range":
        return "is out of range", None
    if found := _VALUE.match(what):
        return f"has unknown value {found.group(1)}", None
    return f"is invalid: {what}", None


def _parse(path: str) -> Path:
    parts: Path = []
    for name, index in _PART.findall(path):
        if name:
            parts.append(name)
        else:
            parts.append(None if index == "..." else int(index))
    return parts


def _dotted(path: Path, body: Any, at_fault: Callable[[Any], bool] | None) -> str:
    """`vars.region`, `messages[0].role`: a field path as api.md's messages write it."""
    text = ""
    node = body
    for part in path:
        if part is None:  # a map's value: name the first key whose value is at fault
            part = _first_key(node, at_fault)
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{_shown(part)}" if text else _shown(part)
        node = _child(node, part)
    return text


def _first_key(node: Any, at_fault: Callable[[Any], bool] | None) -> str:
    if isinstance(node, dict):
        for key, value in node.items():
            try:
                if at_fault is not None and at_fault(value):
                    return str(key)
            except TypeError:
                continue
    return "*"


def _first_bad_key(node: Any, at_fault: Callable[[Any], bool] | None) -> str | None:
    if not isinstance(node, dict) or at_fault is None:
        return None
    return next((key for key in node if at_fault(key)), None)


def _child_at(body: Any, path: Path) -> Any:
    node = body
    for part in path:
        node = None if part is None else _child(node, part)
    return node


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and part < len(node):
        return node[part]
    return None


def _is_null(value: Any) -> bool:
    return value is None


# Before date: a datetime is a date too.
_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "bool"),
    (int, "int"),
    (float, "float"),
    (str, "str"),
    (datetime, "datetime"),
    (date, "date"),
    (time, "time"),
)


def _json_kind(value: Any) -> str:
    """``value``'s type as msgspec names it (dates and times come from YAML and TOML bodies)."""
    if value is None:
        return "null"
    for kind, name in _KINDS:
        if isinstance(value, kind):
            return name
    return "array" if isinstance(value, list) else "object"


SHOWN_KEY_CHARS = 64  # a request's own key in an error, cut: the request may be megabytes


def _shown(key: str) -> str:
    return key if len(key) <= SHOWN_KEY_CHARS else key[:SHOWN_KEY_CHARS] + "…"
