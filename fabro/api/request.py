"""Reading requests: bodies (JSON, YAML or TOML) as typed bodies, and query parameters, with
api.md §2 errors."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import msgspec
from quart import request

from fabro.api.bodies.explain import explain
from fabro.api.formats import MEDIA_TYPES, Dated, parse_document, refuse_dates
from fabro.clock import format_ts
from fabro.errors import BadRequest, UnsupportedMediaType

B = TypeVar("B", bound=msgspec.Struct)

# The largest integer SQLite stores. Positions and offsets beyond it are clamped to it (nothing
# lies that far), instead of overflowing the query parameter into a 500.
MAX_SQL_INT = 2**63 - 1
# Deeper JSON is refused: no body fabro reads comes close, and deeper values would reach the
# recursion limits of the encoders that store and echo them.
MAX_JSON_DEPTH = 64
# Python's own limit for turning digits into an int (json.loads raises ValueError past it);
# longer numbers would cost quadratic time to convert.
MAX_JSON_INT_DIGITS = 4300
UNSUPPORTED = "Content-Type must be application/json, application/yaml or application/toml."


async def json_body() -> dict[str, Any]:
    """The request body as an object of JSON's values, read from JSON, YAML or TOML by its
    Content-Type (``fabro.api.formats``): 415, 413 and 400 per api.md §2."""
    kind = MEDIA_TYPES.get((request.mimetype or "").lower())
    if kind is None:
        raise UnsupportedMediaType(UNSUPPORTED)
    raw = await request.get_data(as_text=False)
    if not raw or not raw.strip():
        raise BadRequest("Request body is required.")
    body = parse_json(raw) if kind == "json" else await parse_document(raw, kind)
    if not isinstance(body, dict):
        shape = {"json": "a JSON object", "yaml": "a YAML mapping"}[kind]  # TOML always is
        raise BadRequest(f"Request body must be {shape}.")
    return body


# Lone surrogates in parsed text can only come from `\uD800`-style escapes (the text itself is
# decoded strictly), so text without such an escape needs no look at its strings.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class _NotAJsonNumber(ValueError):
    """NaN or an infinity: the standard parser accepts them, JSON does not."""


def _refuse_constant(name: str) -> Any:
    raise _NotAJsonNumber(name)


def parse_json(raw: bytes | str, *, name: str | None = None) -> Any:
    """JSON text from a request, parsed strictly: a 400 naming the problem otherwise.

    ``name`` is the field that holds the text (tool-call arguments); None for the body.
    Besides syntax, refused are invalid encodings, nesting deeper than MAX_JSON_DEPTH,
    integers longer than MAX_JSON_INT_DIGITS, NaN and infinities, and lone surrogates (which
    neither UTF-8 nor SQLite can store) in keys and values.
    """
    subject = "JSON body" if name is None else f"JSON in field '{name}'"
    text = _decode(raw, subject) if isinstance(raw, bytes) else raw
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        where = f"at line {exc.lineno}, column {exc.colno}"
        raise BadRequest(f"Malformed {subject} {where}.") from None
    except RecursionError:
        raise BadRequest(f"{subject} nests deeper than {MAX_JSON_DEPTH} levels.") from None
    except _NotAJsonNumber as exc:
        raise BadRequest(f"{subject} has {exc}, which is not a JSON number.") from None
    except ValueError:  # the only other one: an integer past Python's conversion limit
        message = f"{subject} has an integer of more than {MAX_JSON_INT_DIGITS} digits."
        raise BadRequest(message) from None
    # Both scans below are cheap; the walk only runs when they say it could find something.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH or _SURROGATE_ESCAPE.search(text):
        _check_parsed(value, subject, name)
    return value


def _decode(raw: bytes, subject: str) -> str:
    encoding = json.detect_encoding(raw)
    try:
        return raw.decode(encoding)  # strict, unlike json.loads: no surrogates slip through
    except UnicodeDecodeError as exc:
        raise BadRequest(
            f"Malformed {subject}: not valid {encoding.upper()} at byte {exc.start}."
        ) from None


def _check_parsed(value: Any, subject: str, name: str | None) -> None:
    """Depth and lone surrogates of a parsed value, walked without recursion."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            _check_text(item, path, name, key=False)
            continue
        if not isinstance(item, dict | list):
            continue
        if len(path) >= MAX_JSON_DEPTH:
            raise BadRequest(f"{subject} nests deeper than {MAX_JSON_DEPTH} levels.")
        if isinstance(item, dict):
            for key, child in item.items():
                _check_text(key, path, name, key=True)
                stack.append((child, (*path, key)))
        else:
            stack.extend((child, (*path, index)) for index, child in enumerate(item))


def _check_text(text: str, path: tuple[str | int, ...], name: str | None, *, key: bool) -> None:
    found = _SURROGATE.search(text)
    if found is None:
        return
    dotted = _dotted(name, path)
    owner = f"field '{dotted}'" if dotted else "the JSON body"
    subject = f"A key of {owner}" if key else owner[0].upper() + owner[1:]
    raise BadRequest(
        f"{subject} has a lone surrogate (\\u{ord(found[0]):04x}); text must be valid Unicode."
    )


def _dotted(name: str | None, path: tuple[str | int, ...]) -> str:
    """`vars.region`, `labels[1]`: a field path as api.md's messages write it."""
    text = name or ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


def as_body(body: dict[str, Any], shape: type[B]) -> B:
    """``body`` (a parsed JSON object) as the typed ``shape``: a 400 naming the field otherwise.

    Unknown fields are ignored; null counts as an absent optional field.
    """
    try:
        typed = msgspec.convert(body, shape)
    except msgspec.ValidationError as exc:
        raise BadRequest(explain(str(exc), body)) from None
    if isinstance(body, Dated):  # a date that passed sits where any JSON value may go
        refuse_dates(body)
    return typed


async def read_body(shape: type[B]) -> B:
    """The request's object body (JSON, YAML or TOML) as ``shape`` (415, 413 and 400 per
    api.md §2)."""
    return as_body(await json_body(), shape)


def query_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise BadRequest(f"Query parameter '{name}' must be an integer.") from None
    if minimum is not None and value < minimum:
        raise BadRequest(f"Query parameter '{name}' must be >= {minimum}.")
    return min(value, MAX_SQL_INT)


def query_choice(name: str, choices: tuple[str, ...], default: str) -> str:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if raw not in choices:
        raise BadRequest(f"Query parameter '{name}' must be one of: {', '.join(choices)}.")
    return raw


def query_enum_list(name: str, allowed: tuple[str, ...]) -> list[str]:
    """A comma-separated list of enum values (`?status=running,paused`)."""
    raw = request.args.get(name)
    if not raw:
        return []
    values = [part.strip() for part in raw.split(",") if part.strip()]
    for value in values:
        if value not in allowed:
            raise BadRequest(f"Query parameter '{name}' has unknown value '{value}'.")
    return values


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})")


def query_moment(name: str, *, end: bool = False) -> str | None:
    """A date (`2026-12-01`) or an RFC 3339 time as a stored timestamp (UTC, milliseconds).

    A date is the start of that UTC day, or with ``end`` the start of the next one, so that a
    range given in dates holds its last day: the bound ``end`` names is the first moment out.
    """
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        if _DATE.fullmatch(raw):
            day = date.fromisoformat(raw) + timedelta(days=1 if end else 0)
            return format_ts(datetime.combine(day, datetime.min.time(), tzinfo=UTC))
        if _RFC3339.fullmatch(raw):
            return format_ts(datetime.fromisoformat(raw.upper().replace("Z", "+00:00")))
    except (ValueError, OverflowError):
        pass
    raise BadRequest(
        f"Query parameter '{name}' must be a date (YYYY-MM-DD) or an RFC 3339 time"
        " (2026-12-01T10:00:00Z)."
    )
