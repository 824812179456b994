"""Settings values: each validator takes a raw value (from server.toml, a `FABRO_*` variable or
a flag) and returns the typed value or raises Invalid naming what was expected."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any


class Invalid(Exception):
    """A value that does not fit its key; the message is the expectation ("an integer >= 1")."""


Validator = Callable[[Any], Any]


def string(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid("a string")
    return value


def nonempty_string(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("a non-empty string")
    return value


def int_in(low: int, high: int) -> Validator:
    def check(value: Any) -> int:
        number = _coerce_int(value)
        if number is None or not low <= number <= high:
            raise Invalid(f"an integer between {low} and {high}")
        return number

    return check


def port(value: Any) -> int:
    number = _coerce_int(value)
    if number is None or not 1 <= number <= 65535:
        raise Invalid("an integer between 1 and 65535")
    return number


def _coerce_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,18}\s*", value):
        return int(value)
    return None


def one_of(*choices: str) -> Validator:
    def check(value: Any) -> str:
        if value not in choices:
            raise Invalid("one of " + ", ".join(f'"{c}"' for c in choices))
        return str(value)

    return check


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def boolean(value: Any) -> bool:
    """A TOML boolean, or its spelling in an environment variable (true/false, 1/0, ...)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise Invalid("true or false")


def string_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Invalid("an array of strings")
    return tuple(value)


def path(value: Any) -> str:
    return nonempty_string(value)
