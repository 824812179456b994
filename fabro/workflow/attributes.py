"""Typed attributes and fabro's coercion rules (workflow-language.md §6.1).

Every known typed attribute has a declared type; quoted and unquoted forms are equivalent
(`timeout=1200`, `timeout="1200"` and `timeout=20m` are all twenty minutes). Attributes not listed
here are strings. Conversion never raises: `convert` returns None for a value that does not fit,
and `type_error` names the expected type for the `attribute_type` diagnostic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from fabro.workflow.lexer import BARE, BOOL, DURATION, INT, STRING

if TYPE_CHECKING:
    from fabro.workflow.value import Value

_INT_TEXT = re.compile(r"-?[0-9]+")
_DURATION_TEXT = re.compile(r"([0-9]+)(ms|s|m|h|d)?")
_DURATION_TOKEN = re.compile(r"([0-9]+)(ms|s|m|h|d)")
_UNIT_MS: Final = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, None: 1000}


@dataclass(frozen=True, slots=True)
class AttrType:
    """A declared attribute type: `int` (with an optional minimum), `bool` or `duration`."""

    name: str
    minimum: int | None = None

    @property
    def phrase(self) -> str:
        """How diagnostics describe the type (`must be <phrase>`)."""
        if self.name == "int":
            return "an integer" if self.minimum is None else f"an integer >= {self.minimum}"
        if self.name == "bool":
            return "true or false"
        return "a duration such as 900s, 15m or 2h"


ANY_INT: Final = AttrType("int")
NON_NEGATIVE: Final = AttrType("int", 0)
POSITIVE: Final = AttrType("int", 1)
BOOLEAN: Final = AttrType("bool")
DURATION_TYPE: Final = AttrType("duration")

GRAPH_TYPES: Final[dict[str, AttrType]] = {
    "default_max_retry": NON_NEGATIVE,
    "max_node_visits": NON_NEGATIVE,
    "stall_timeout": DURATION_TYPE,
    "loop_restart_signature_limit": POSITIVE,
}

NODE_TYPES: Final[dict[str, AttrType]] = {
    "timeout": DURATION_TYPE,
    "max_visits": NON_NEGATIVE,
    "max_retries": NON_NEGATIVE,
    "goal_gate": BOOLEAN,
    "auto_status": BOOLEAN,
    "allow_partial": BOOLEAN,
    "max_tokens": POSITIVE,
    "max_turns": POSITIVE,
    "max_agent_turns": POSITIVE,
    "project_memory": BOOLEAN,
    "max_parallel": POSITIVE,
    "duration": DURATION_TYPE,
    "manager.poll_interval": DURATION_TYPE,
    "manager.max_cycles": POSITIVE,
}

EDGE_TYPES: Final[dict[str, AttrType]] = {
    "weight": ANY_INT,
    "loop_restart": BOOLEAN,
    "freeform": BOOLEAN,
}


def to_int(value: Value, minimum: int | None = None) -> int | None:
    """An int token, or a string/bare whose text is an integer; None if not (or below minimum)."""
    if value.kind not in (INT, STRING, BARE) or not _INT_TEXT.fullmatch(value.text):
        return None
    number = int(value.text)
    if minimum is not None and number < minimum:
        return None
    return number


def to_bool(value: Value) -> bool | None:
    """`true` / `false`, quoted or not, lowercase only."""
    if value.kind in (BOOL, STRING) and value.text in ("true", "false"):
        return value.text == "true"
    return None


def to_duration_ms(value: Value) -> int | None:
    """A non-negative duration in milliseconds; a bare integer means seconds."""
    if value.kind == DURATION:
        m = _DURATION_TOKEN.fullmatch(value.text)  # a negative token does not match
    elif value.kind in (STRING, INT):
        m = _DURATION_TEXT.fullmatch(value.text)
    else:
        return None
    if m is None:
        return None
    return int(m.group(1)) * _UNIT_MS[m.group(2)]


def convert(value: Value, attr_type: AttrType) -> int | bool | None:
    """The typed value of `value`, or None when it cannot be converted."""
    if attr_type.name == "int":
        return to_int(value, attr_type.minimum)
    if attr_type.name == "bool":
        return to_bool(value)
    return to_duration_ms(value)


def type_error(value: Value, attr_type: AttrType) -> str | None:
    """None when `value` converts, else the phrase `must be <type> (got '<text>')`."""
    if convert(value, attr_type) is not None:
        return None
    return f"must be {attr_type.phrase} (got '{value.text}')"
