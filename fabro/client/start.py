"""The StartRunRequest of `fabro runs start FILE|WORKFLOW`.

FILE is the user's own workflow on this machine: it is sent as `dot_source`, and since the
server never reads files for a submitted source, its `@file` references (graph goal, node
prompts) are read here, from the DOT file's own folder under the same rule as `fabro run`
(``fabro.workflow.files``), and written into the source as quoted strings. A `.toml` run
configuration contributes its goal, `[vars]` and `[labels]`. Anything else that looks like a
registry name is sent as `workflow`, resolved by the server in its own registry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fabro.workflow.commands import parse_label_options, parse_var_options
from fabro.workflow.errors import DotParseError, WorkflowSourceError
from fabro.workflow.files import goal_option, read_reference
from fabro.workflow.parser import parse_graph
from fabro.workflow.source import resolve_workflow
from fabro.workflow.value import Value

_REGISTRY_NAME = re.compile(r"[A-Za-z0-9_-]+")
# A DOT double-quoted string: what the lexer reads (a backslash always takes the next char).
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def start_request(
    argument: str,
    *,
    goal: str | None,
    var_options: Sequence[str],
    label_options: Sequence[str],
) -> tuple[dict[str, Any], list[str]]:
    """The request body and warnings to print; WorkflowSourceError (exit 2) on bad input."""
    variables = parse_var_options(var_options)
    labels = parse_label_options(label_options)
    body: dict[str, Any] = {}
    warnings: list[str] = []
    if Path(argument).is_file():
        body, warnings = file_request(argument)
        variables = {**body.pop("vars", {}), **variables}
        labels = {**body.pop("labels", {}), **labels}
    elif _REGISTRY_NAME.fullmatch(argument):
        body["workflow"] = argument
    else:
        raise WorkflowSourceError(f"Workflow not found: {argument}")
    goal_text = goal_option(goal)
    if goal_text is not None:
        body["goal"] = goal_text
    if variables:
        body["vars"] = variables
    if labels:
        body["labels"] = labels
    return body, warnings


def file_request(path: str | Path) -> tuple[dict[str, Any], list[str]]:
    """What a local workflow file (.dot, .fabro, or a .toml run configuration) puts in a
    StartRunRequest: its source with its `@file` references inlined, and a configuration's
    goal, vars and labels; and the warnings to show. WorkflowSourceError on bad input."""
    source = resolve_workflow(str(path))
    body: dict[str, Any] = {"dot_source": inline_references(source.text, source.path)}
    goal = _config_goal(source.goal, source.path.parent)
    if goal is not None:
        body["goal"] = goal
    if source.vars:
        body["vars"] = dict(source.vars)
    if labels := _string_table(source.config.get("labels")):
        body["labels"] = labels
    return body, list(source.warnings)


def inline_references(text: str, path: Path) -> str:
    """``text`` with each resolvable `@file` goal or prompt replaced by the file's contents.

    References that cannot be read stay as written, so the server's validation names them.
    """
    text = text.removeprefix("\ufeff")  # positions below count from after it
    try:
        graph = parse_graph(text, file=str(path))
    except DotParseError as exc:
        raise WorkflowSourceError(f"Parse error: {exc}") from None
    values: list[Value | None] = [graph.attrs.get("goal")]
    values += [node.attrs.get("prompt") for node in graph.nodes.values()]
    # A node default (`node [prompt="@x"]`) is one value shared by many nodes: keyed by place.
    replacements: dict[tuple[int, int], str] = {}
    for value in values:
        if value is None or not value.text.startswith("@") or value.line <= 0:
            continue
        content = read_reference(value.text, path.parent)
        if content is not None:
            replacements[(value.line, value.col)] = content
    return _replace_strings(text, replacements)


def _replace_strings(text: str, replacements: Mapping[tuple[int, int], str]) -> str:
    """Replace the quoted strings that start at the given (line, column) positions."""
    if not replacements:
        return text
    line_starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
    spans = []
    for (line, col), content in replacements.items():
        start = line_starts[line - 1] + col - 1
        match = _QUOTED.match(text, start)
        if match is not None:
            spans.append((match.start(), match.end(), quote(content)))
    for start, end, quoted in sorted(spans, reverse=True):
        text = text[:start] + quoted + text[end:]
    return text


def quote(content: str) -> str:
    """A DOT string literal the lexer decodes back to ``content``."""
    return '"' + content.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _config_goal(goal: str | None, folder: Path) -> str | None:
    """A run configuration's goal; like the graph's own, it may be `@file` in its folder."""
    if goal is None or not goal.startswith("@"):
        return goal
    content = read_reference(goal, folder)
    if content is None:
        raise WorkflowSourceError(f"Cannot read the goal file {goal[1:]} in {folder}")
    return content


def _string_table(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}
