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
# A secret's name (fabro/secrets): the name of the environment variable a stage receives.
SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
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

# The one table of attributes fabro reads (workflow-language.md §6.2-§6.5), by name, with the
# declared type of the typed ones (None: a string). Validation converts the typed values
# (`attribute_type`) and warns about names found neither here nor in GRAPHVIZ_ATTRIBUTES
# (`unknown_attribute`).
GRAPH_ATTRIBUTES: Final[dict[str, AttrType | None]] = {
    "goal": None,
    "label": None,
    "rankdir": None,
    "model_stylesheet": None,
    "default_max_retry": NON_NEGATIVE,
    "retry_target": None,
    "fallback_retry_target": None,
    "default_fidelity": None,
    "default_thread": None,
    "max_node_visits": NON_NEGATIVE,
    "stall_timeout": DURATION_TYPE,
    "loop_restart_signature_limit": POSITIVE,
    "default_model": None,
    "default_provider": None,
    "secrets": None,  # fabro: secrets every command and agent stage receives (issue 19)
}

NODE_ATTRIBUTES: Final[dict[str, AttrType | None]] = {
    # all kinds (§6.3)
    "label": None,
    "shape": None,
    "type": None,
    "class": None,
    "timeout": DURATION_TYPE,
    "max_visits": NON_NEGATIVE,
    "max_retries": NON_NEGATIVE,
    "retry_policy": None,
    "retry_target": None,
    "fallback_retry_target": None,
    "goal_gate": BOOLEAN,
    "auto_status": BOOLEAN,
    "allow_partial": BOOLEAN,
    "fidelity": None,
    "thread_id": None,
    # agent and prompt (§6.4)
    "prompt": None,
    "llm_model": None,
    "llm_provider": None,
    "reasoning_effort": None,
    "max_tokens": POSITIVE,
    "max_turns": POSITIVE,
    "project_memory": BOOLEAN,
    "backend": None,
    # command, human, parallel, wait, manager (§6.4)
    "script": None,
    "language": None,
    "idempotent": BOOLEAN,  # fabro: false = not safe to repeat after a crash (governance)
    "secrets": None,  # fabro: `secrets="DB_PASSWORD, API_TOKEN"`, the stage's variables
    "human.default_choice": None,
    "join_policy": None,
    "error_policy": None,
    "max_parallel": POSITIVE,
    "duration": DURATION_TYPE,
    "stack.child_dotfile": None,
    "stack.child_dot_source": None,
    "manager.poll_interval": DURATION_TYPE,
    "manager.max_cycles": POSITIVE,
    "manager.stop_condition": None,
    # legacy aliases (§4)
    "codergen_mode": None,
    "tool_command": None,
    "max_agent_turns": POSITIVE,
}

EDGE_ATTRIBUTES: Final[dict[str, AttrType | None]] = {
    "label": None,
    "condition": None,
    "weight": ANY_INT,
    "fidelity": None,
    "thread_id": None,
    "loop_restart": BOOLEAN,
    "freeform": BOOLEAN,
}

# Graphviz's own attributes: they style the rendered graph and the engine ignores them.
GRAPHVIZ_ATTRIBUTES: Final = frozenset(
    """
    area arrowhead arrowsize arrowtail bgcolor center charset clusterrank color colorscheme
    comment compound concentrate constraint decorate dir distortion dpi fillcolor fixedsize
    fontcolor fontname fontnames fontpath fontsize forcelabels gradientangle group headclip
    headlabel headport headtooltip headURL height href id image imagepos imagescale labelangle
    labeldistance labelfloat labelfontcolor labelfontname labelfontsize labeljust labelloc
    labeltooltip labelURL landscape layer layers layout lhead ltail margin minlen newrank
    nodesep nojustify ordering orientation outputorder pad page pagedir pencolor penwidth
    peripheries pos rank ranksep ratio regular rotate samehead sametail shapefile showboxes
    sides size skew sortv splines style stylesheet tailclip taillabel tailport tailtooltip
    tailURL target tooltip truecolor URL viewport width xlabel xlp
    """.split()
)


def _typed(table: dict[str, AttrType | None]) -> dict[str, AttrType]:
    return {name: attr_type for name, attr_type in table.items() if attr_type is not None}


GRAPH_TYPES: Final = _typed(GRAPH_ATTRIBUTES)
NODE_TYPES: Final = _typed(NODE_ATTRIBUTES)
EDGE_TYPES: Final = _typed(EDGE_ATTRIBUTES)


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


def secret_names(text: str | None) -> list[str]:
    """The names of a `secrets` attribute: comma-separated, spaces around them ignored, empty
    items skipped; invalid names are kept (validation reports them, `SECRET_NAME`)."""
    if not text:
        return []
    return list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
