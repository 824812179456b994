"""Attribute values as written in the source (§4, `Value`) and typed reads over them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fabro.workflow.attributes import to_bool, to_duration_ms, to_int


@dataclass(frozen=True, slots=True)
class Value:
    """One attribute value: its lexical kind, its text and where it was written.

    `kind` is one of string, duration, float, int, bool, bare, ident. Values created by
    preparation (goal override, stylesheet) have line and col 0.
    """

    kind: str
    text: str
    line: int = 0
    col: int = 0

    @classmethod
    def string(cls, text: str) -> Value:
        """A synthesized string value (no source position)."""
        return cls("string", text)

    def with_text(self, text: str) -> Value:
        """The same value with new text (after @file inlining or variable expansion)."""
        return Value(self.kind, text, self.line, self.col)

    def to_json(self) -> list[str | int]:
        """Compact form `[kind, text, line, col]`."""
        return [self.kind, self.text, self.line, self.col]

    @classmethod
    def from_json(cls, data: list[str | int]) -> Value:
        """Inverse of `to_json`."""
        kind, text, line, col = data
        return cls(str(kind), str(text), int(line), int(col))


Attrs = dict[str, Value]
JSON = dict[str, Any]


class Attributed:
    """Typed reads over an `attrs` mapping, shared by graphs, nodes and edges."""

    attrs: Attrs

    def get(self, key: str) -> str | None:
        """The text of attribute `key`, or None when absent."""
        value = self.attrs.get(key)
        return None if value is None else value.text

    def _text(self, key: str) -> str | None:
        """The text of `key`, treating an empty value as absent."""
        value = self.attrs.get(key)
        return value.text if value is not None and value.text != "" else None

    def _int(self, key: str, default: int, minimum: int | None = None) -> int:
        value = self.attrs.get(key)
        number = None if value is None else to_int(value, minimum)
        return default if number is None else number

    def _bool(self, key: str, default: bool) -> bool:
        value = self.attrs.get(key)
        flag = None if value is None else to_bool(value)
        return default if flag is None else flag

    def _duration_ms(self, key: str) -> int | None:
        value = self.attrs.get(key)
        return None if value is None else to_duration_ms(value)


def attrs_json(attrs: Attrs) -> JSON:
    """Serializable form of an attribute map."""
    return {key: value.to_json() for key, value in attrs.items()}


def attrs_from_json(data: Mapping[str, Any]) -> Attrs:
    """Inverse of `attrs_json`."""
    return {key: Value.from_json(value) for key, value in data.items()}
