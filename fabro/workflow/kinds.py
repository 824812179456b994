"""Node kinds: the handler type of a node by `type` or `shape` (workflow-language.md §5)."""

from __future__ import annotations

from typing import Final

START: Final = "start"
EXIT: Final = "exit"
AGENT: Final = "agent"
PROMPT: Final = "prompt"
COMMAND: Final = "command"
HUMAN: Final = "human"
CONDITIONAL: Final = "conditional"
PARALLEL: Final = "parallel"
FAN_IN: Final = "parallel.fan_in"
MANAGER: Final = "stack.manager_loop"
WAIT: Final = "wait"

HANDLER_KINDS: Final = (
    START,
    EXIT,
    AGENT,
    PROMPT,
    COMMAND,
    HUMAN,
    CONDITIONAL,
    PARALLEL,
    FAN_IN,
    MANAGER,
    WAIT,
)

SHAPE_KINDS: Final[dict[str, str]] = {
    "Mdiamond": START,
    "Msquare": EXIT,
    "box": AGENT,
    "tab": PROMPT,
    "parallelogram": COMMAND,
    "hexagon": HUMAN,
    "diamond": CONDITIONAL,
    "component": PARALLEL,
    "tripleoctagon": FAN_IN,
    "house": MANAGER,
    "insulator": WAIT,
}

# Explicit `type` values that validation accepts (rule type_known), with their canonical kind.
TYPE_KINDS: Final[dict[str, str]] = {
    START: START,
    EXIT: EXIT,
    AGENT: AGENT,
    "agent_loop": AGENT,
    PROMPT: PROMPT,
    "one_shot": PROMPT,
    HUMAN: HUMAN,
    CONDITIONAL: CONDITIONAL,
    PARALLEL: PARALLEL,
    FAN_IN: FAN_IN,
    COMMAND: COMMAND,
    "tool": COMMAND,
    MANAGER: MANAGER,
    WAIT: WAIT,
}

LLM_KINDS: Final = frozenset({AGENT, PROMPT})
START_IDS: Final = ("start", "Start")
TERMINAL_IDS: Final = frozenset({"exit", "Exit", "end", "End"})

# Legacy `codergen_mode` values and the `type` they stand for (§4, legacy aliases).
CODERGEN_MODES: Final[dict[str, str]] = {"one_shot": PROMPT, "agent_loop": AGENT}


def is_start_candidate(node_id: str, shape: str) -> bool:
    """A start node for validation: shape Mdiamond or id start/Start."""
    return shape == "Mdiamond" or node_id in START_IDS


def is_terminal(node_id: str, shape: str, type_: str | None) -> bool:
    """A terminal node: shape Msquare, type exit, or id exit/Exit/end/End (one definition)."""
    return shape == "Msquare" or type_ == EXIT or node_id in TERMINAL_IDS


def handler_kind(node_id: str, shape: str, type_: str | None) -> str:
    """The canonical handler kind that runs a node.

    Terminal nodes are `exit` whatever their type (fabro fix); an explicit type wins otherwise
    (unknown types run as `agent`); without one, a start id runs as `start`, then the shape
    decides (unknown shapes run as `agent`).
    """
    if is_terminal(node_id, shape, type_):
        return EXIT
    if type_ is not None:
        return TYPE_KINDS.get(type_, AGENT)
    if shape == "Mdiamond" or node_id in START_IDS:
        return START
    return SHAPE_KINDS.get(shape, AGENT)
