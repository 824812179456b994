"""`$name` expansion (workflow-language.md §9.2).

In the graph goal, node prompts and node labels a defined `$name` is replaced, an undefined one
is kept and reported (`undefined_variable`), `$$` becomes `$`. In command scripts (`script`,
`tool_command`) a defined `$name` is replaced by its value quoted for the shell, and everything
else (undefined names, `$$`, `\\$name`) is left to the shell.

Variable values and the goal may come from a request (`POST /runs` `vars` and `goal`), so they
are untrusted: in a script each value becomes exactly one literal word, `shlex.quote`d to fit
the quotes the author wrote around the reference (fabro.workflow.shellwords); where no quoting
can keep it one word (backquotes, `${...}`, arithmetic, `[[...]]`, here-documents, quotes
spanning lines, Python scripts) only a plain word is accepted, otherwise `WorkflowInputError`.
The workflow author's own text is never changed.

Sizes are measured while expanding, so a huge text is never built: one expanded text (the
goal, a prompt, label or script that uses `$`) over `limits.max_expanded_bytes`, or all of
them together over `limits.max_source_bytes`, raise `WorkflowInputError` naming the text and
the limit. A text without `$` is left as it is, and is bounded by where it came from (the
source limit, the request body limit, the workflow's own files).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from fabro.config import LimitsSettings
from fabro.workflow.errors import WorkflowInputError
from fabro.workflow.kinds import COMMAND
from fabro.workflow.model import Graph
from fabro.workflow.shellwords import quoted, references

# `$$` first so that `$$name` reads as an escaped dollar followed by plain text.
_REFERENCE = re.compile(r"\$(\$|[A-Za-z_][A-Za-z0-9_]*)")
_PLAIN_WORD = "letters, digits and _@%+=:,./-"


@dataclass(frozen=True, slots=True)
class UndefinedVariable:
    """`$name` used in the graph goal (node_id None) or a node's `prompt` / `label`."""

    name: str
    where: str  # "goal", "prompt" or "label"
    node_id: str | None = None


class Budget:
    """How many bytes expansion may still produce: per text, and for the whole graph."""

    def __init__(self, limits: LimitsSettings) -> None:
        self.per_text = limits.max_expanded_bytes
        # The prepared graph may not outgrow what a source may hold, however it got there.
        self.total = limits.max_source_bytes
        self.used = 0

    def text(self, where: str) -> _Text:
        """A bounded builder for the text named `where` (`goal`, `node 'x' prompt`)."""
        return _Text(self, where)


class _Text:
    """Pieces of one expanded text, measured as they are added."""

    def __init__(self, budget: Budget, where: str) -> None:
        self.budget = budget
        self.where = where
        self.pieces: list[str] = []
        self.size = 0

    def add(self, piece: str) -> None:
        size = len(piece) if piece.isascii() else len(piece.encode("utf-8", "surrogatepass"))
        self.size += size
        self.budget.used += size
        if self.size > self.budget.per_text:
            raise WorkflowInputError(
                f"Expanded {self.where} exceeds limits.max_expanded_bytes "
                f"({self.budget.per_text} bytes)."
            )
        if self.budget.used > self.budget.total:
            raise WorkflowInputError(
                f"Expanded {self.where} makes the workflow's expanded texts exceed "
                f"limits.max_source_bytes ({self.budget.total} bytes)."
            )
        self.pieces.append(piece)

    def result(self) -> str:
        return "".join(self.pieces)


def _default_budget() -> Budget:
    return Budget(LimitsSettings())


def expand_text(
    text: str,
    variables: Mapping[str, str],
    undefined: list[str],
    *,
    keep: frozenset[str] = frozenset(),
    budget: Budget | None = None,
    where: str = "text",
) -> str:
    """Expand `$name` and `$$` in a goal/prompt/label; undefined names are appended to `undefined`.

    Names in `keep` stay literal and are not reported (`$goal` inside the goal itself).
    """
    if "$" not in text:
        return text  # nothing to expand, nothing to measure
    out = (budget or _default_budget()).text(where)
    position = 0
    for match in _REFERENCE.finditer(text):
        out.add(text[position : match.start()])
        name = match.group(1)
        if name == "$":
            out.add("$")
        elif name in variables and name not in keep:
            out.add(variables[name])
        else:
            if name not in keep:
                undefined.append(name)
            out.add(match.group(0))
        position = match.end()
    out.add(text[position:])
    return out.result()


def expand_script(
    text: str,
    variables: Mapping[str, str],
    *,
    language: str = "shell",
    budget: Budget | None = None,
    where: str = "script",
) -> str:
    """Expand defined `$name` in a command script, each value quoted as one literal word.

    Raises WorkflowInputError when a value cannot be placed where its reference stands.
    """
    if "$" not in text:
        return text
    out = (budget or _default_budget()).text(where)
    position = 0
    for ref in references(text, language=language):
        if ref.name not in variables:
            continue
        out.add(text[position : ref.start])
        value = quoted(variables[ref.name], ref.context)
        if value is None:
            raise WorkflowInputError(_unquotable(where, ref.name))
        out.add(value)
        position = ref.end
    out.add(text[position:])
    return out.result()


def _unquotable(where: str, name: str) -> str:
    return (
        f"The value of ${name} in {where} must be a plain word ({_PLAIN_WORD}): fabro cannot "
        "quote it there (inside backquotes, ${...}, $'...', arithmetic, [[...]], a "
        "here-document, quotes spanning lines, or a Python script)."
    )


def expand_graph(
    graph: Graph, variables: Mapping[str, str], budget: Budget | None = None
) -> list[UndefinedVariable]:
    """Expand variables in place (goal first, then nodes in order); return undefined uses."""
    budget = budget or _default_budget()
    found: list[UndefinedVariable] = []
    names: list[str] = []
    goal = graph.attrs.get("goal")
    effective_goal = ""
    if goal is not None:
        effective_goal = expand_text(
            goal.text, variables, names, keep=frozenset({"goal"}), budget=budget, where="goal"
        )
        graph.attrs["goal"] = goal.with_text(effective_goal)
        found.extend(UndefinedVariable(name, "goal") for name in _unique(names))
    scope = {**variables, "goal": effective_goal}
    for node in graph.nodes.values():
        for key in ("prompt", "label"):
            value = node.attrs.get(key)
            if value is None:
                continue
            names = []
            where = f"node '{node.id}' {key}"
            expanded = expand_text(value.text, scope, names, budget=budget, where=where)
            node.attrs[key] = value.with_text(expanded)
            found.extend(UndefinedVariable(name, key, node.id) for name in _unique(names))
        if node.kind == COMMAND:
            for key in ("script", "tool_command"):
                value = node.attrs.get(key)
                if value is not None:
                    where = f"node '{node.id}' {key}"
                    script = expand_script(
                        value.text, scope, language=node.language, budget=budget, where=where
                    )
                    node.attrs[key] = value.with_text(script)
    return found


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))
