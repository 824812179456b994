"""Text made storable where it enters fabro: UTF-8, and so SQLite and files, can hold it."""

from __future__ import annotations

import re
from typing import Any, TypeVar, cast

T = TypeVar("T")

# Lone surrogates: Python strings may hold them (a JSON `\ud800` escape decodes to one), UTF-8
# cannot encode them, so neither SQLite nor a file can take a string that holds one.
_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def storable(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD, so that UTF-8 can encode it."""
    if text.isascii():
        return text
    return _SURROGATE.sub(REPLACEMENT, text)


def storable_value(value: T) -> T:
    """A JSON-like value with every string in it (keys too) made storable."""
    return cast(T, _storable(value))


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_storable(item) for item in value)
    return value
