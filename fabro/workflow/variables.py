"""`$name` expansion (workflow-language.md §9.2).

In the graph goal, node prompts and node labels a defined `$name` is replaced, an undefined one
is kept and reported (`undefined_variable`), `$$` becomes `$`. In command scripts a defined
`$name` is replaced and everything else is left for the shell. Replacement is textual.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from fabro.workflow.kinds import COMMAND
from fabro.workflow.model import Graph

# `$$` first so that `$$name` reads as an escaped dollar followed by plain text.
_REFERENCE = re.compile(r"\$(\$|[A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True, slots=True)
class UndefinedVariable:
    """`$name` used in the graph goal (node_id None) or a node's `prompt` / `label`."""

    name: str
    where: str  # "goal", "prompt" or "label"
    node_id: str | None = None


def expand_text(
    text: str,
    variables: Mapping[str, str],
    undefined: list[str],
    *,
    keep: frozenset[str] = frozenset(),
) -> str:
    """Expand `$name` and `$$` in a goal/prompt/label; undefined names are appended to `undefined`.

    Names in `keep` stay literal and are not reported (`$goal` inside the goal itself).
    """
    if "$" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "$":
            return "$"
        if name in keep:
            return match.group(0)
        if name in variables:
            return variables[name]
        undefined.append(name)
        return match.group(0)

    return _REFERENCE.sub(replace, text)


def expand_script(text: str, variables: Mapping[str, str]) -> str:
    """Expand defined `$name` in a command script; `$$` and unknown names are kept."""
    if "$" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        return variables.get(name, match.group(0)) if name != "$" else "$$"

    return _REFERENCE.sub(replace, text)


def expand_graph(graph: Graph, variables: Mapping[str, str]) -> list[UndefinedVariable]:
    """Expand variables in place (goal first, then nodes in order); return undefined uses."""
    found: list[UndefinedVariable] = []
    names: list[str] = []
    goal = graph.attrs.get("goal")
    effective_goal = ""
    if goal is not None:
        effective_goal = expand_text(goal.text, variables, names, keep=frozenset({"goal"}))
        graph.attrs["goal"] = goal.with_text(effective_goal)
        found.extend(UndefinedVariable(name, "goal") for name in _unique(names))
    scope = {**variables, "goal": effective_goal}
    for node in graph.nodes.values():
        for key in ("prompt", "label"):
            value = node.attrs.get(key)
            if value is None:
                continue
            names = []
            node.attrs[key] = value.with_text(expand_text(value.text, scope, names))
            found.extend(UndefinedVariable(name, key, node.id) for name in _unique(names))
        if node.kind == COMMAND:
            for key in ("script", "tool_command"):
                value = node.attrs.get(key)
                if value is not None:
                    node.attrs[key] = value.with_text(expand_script(value.text, scope))
    return found


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))
