"""Reading requests: JSON bodies, typed fields and query parameters, with api.md §2 errors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from quart import request

from fabro.errors import BadRequest, UnsupportedMediaType

# The largest integer SQLite stores. Positions and offsets beyond it are clamped to it (nothing
# lies that far), instead of overflowing the query parameter into a 500.
MAX_SQL_INT = 2**63 - 1


async def json_body() -> dict[str, Any]:
    """The request body as a JSON object (415, 413 and 400 per api.md §2)."""
    mimetype = (request.mimetype or "").lower()
    if mimetype != "application/json":
        raise UnsupportedMediaType("Content-Type must be application/json.")
    raw = await request.get_data(as_text=False)
    if not raw or not raw.strip():
        raise BadRequest("Request body is required.")
    try:
        body = json.loads(raw)
    except UnicodeDecodeError:
        raise BadRequest("Malformed JSON body at line 1, column 1.") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"Malformed JSON body at line {exc.lineno}, column {exc.colno}.") from None
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object.")
    return body


_EXPECTATIONS = {
    str: "a string",
    int: "an integer",
    bool: "a boolean",
    dict: "an object",
    list: "an array",
    float: "a number",
}


def _is_instance(value: Any, kind: type) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, kind)


def field(body: Mapping[str, Any], name: str, kind: type, *, required: bool = False) -> Any:
    """A typed field of a JSON object; absent optional fields (and nulls) give None."""
    value = body.get(name)
    if value is None:
        if required:
            raise BadRequest(f"Missing required field '{name}'.")
        return None
    if not _is_instance(value, kind):
        raise BadRequest(f"Field '{name}' must be {_EXPECTATIONS[kind]}.")
    return value


def string_map(body: Mapping[str, Any], name: str) -> dict[str, str] | None:
    """An optional object whose values must all be strings (`vars`, `labels`)."""
    value = field(body, name, dict)
    if value is None:
        return None
    for key, item in value.items():
        if not isinstance(item, str):
            raise BadRequest(f"Field '{name}.{key}' must be a string.")
    return dict(value)


def string_list(body: Mapping[str, Any], name: str) -> list[str] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadRequest(f"Field '{name}' must be an array of strings.")
    return list(value)


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
