"""Diagnostics of DOT being written in the new-run form, each placed at a line of it.

The checks are `prepare`'s (the ones `POST /runs` runs on a `dot_source`); what this adds is
where to show them: a parse error has its line and column, an edge diagnostic takes the line
of its edge, a node diagnostic the first line that names the node.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from fabro.config import LimitsSettings
from fabro.workflow.errors import DotParseError, WorkflowInputError
from fabro.workflow.model import Graph
from fabro.workflow.prepare import prepare

# Sources longer than this are shown only around their flagged lines.
FULL_VIEW_LINES: Final = 400
CONTEXT_LINES: Final = 3
MAX_LINE_CHARS: Final = 500  # a longer line is cut in the view (the textarea keeps it whole)
MAX_DIAGNOSTICS: Final = 200  # a workflow with more shows these first
SEVERITY_RANK: Final = {"error": 0, "warning": 1, "info": 2}


def diagnose(
    source: str, variables: Mapping[str, str], limits: LimitsSettings
) -> list[dict[str, Any]]:
    """Diagnostics of ``source`` as JSON objects (`rule`, `severity`, `message`, and `line`
    and `col` when they can be placed). CPU-bound: call it in a worker thread."""
    try:
        prepared = prepare(source, vars=variables, resolve_files=False, limits=limits)
    except DotParseError as error:
        return [
            {
                "rule": "parse_error",
                "severity": "error",
                "message": error.message,
                "line": error.line,
                "col": error.col,
            }
        ]
    except WorkflowInputError as error:
        return [{"rule": "limits", "severity": "error", "message": error.detail}]
    except RecursionError:
        message = "The workflow nests too deeply to be read."
        return [{"rule": "parse_error", "severity": "error", "message": message}]
    mentions: dict[str, int] = {}
    placed = []
    for diagnostic in prepared.diagnostics[:MAX_DIAGNOSTICS]:
        found = diagnostic.to_json()
        if "line" not in found and (diagnostic.node_id or diagnostic.edge):
            mentions = mentions or first_mentions(source, prepared.graph)
            line = _line_of(mentions, diagnostic.node_id, diagnostic.edge)
            if line is not None:
                found["line"] = line
        placed.append(found)
    left_out = len(prepared.diagnostics) - len(placed)
    if left_out > 0:
        message = f"{left_out} more diagnostics are not shown; fix these first."
        placed.append({"rule": "more", "severity": "info", "message": message})
    return placed


# A DOT ID: a quoted string (its content in group 1) or a bare name or number.
_ID_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|([^\W\d][\w.]*|-?\d[\w.]*)')


# A line that starts with a node statement: `  name [` or `  name;` (or the name alone).
_NODE_STATEMENT = re.compile(r"\s*([^\W\d][\w.]*)\s*(?:\[|;|$)")


def first_mentions(source: str, graph: Graph) -> dict[str, int]:
    """Each ID of ``source`` -> the line of its node statement, else of its first mention;
    and each edge (`a -> b`) -> its line. Built once, however many diagnostics look one up."""
    mentions: dict[str, int] = {}
    for edge in reversed(graph.edges):  # the first of duplicate edges wins
        if edge.line > 0:
            mentions[f"{edge.source} -> {edge.target}"] = edge.line
    declared: dict[str, int] = {}
    for number, text in enumerate(source.splitlines(), start=1):
        for token in _ID_TOKEN.finditer(text):
            name = token.group(1) if token.group(1) is not None else token.group(2)
            mentions.setdefault(name, number)
        if statement := _NODE_STATEMENT.match(text):
            declared.setdefault(statement.group(1), number)
    return mentions | declared  # a node's own statement (`a [...]`) before its first mention


def _line_of(
    mentions: dict[str, int], node_id: str | None, edge: tuple[str, str] | None
) -> int | None:
    if edge is not None:
        line = mentions.get(f"{edge[0]} -> {edge[1]}")
        if line is not None:
            return line
        node_id = edge[0]
    return mentions.get(node_id) if node_id is not None else None


@dataclass(frozen=True)
class SourceLine:
    """A numbered line of the source view, with the worst severity flagged on it."""

    number: int
    text: str
    severity: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "text": self.text, "severity": self.severity}


def source_view(source: str, diagnostics: list[dict[str, Any]]) -> list[SourceLine | None]:
    """The source's numbered lines with the flagged ones marked; past FULL_VIEW_LINES only
    the flagged lines and CONTEXT_LINES around each, with None where lines are left out."""
    texts = source.splitlines() or [""]
    flagged: dict[int, str] = {}
    for diagnostic in diagnostics:
        line = diagnostic.get("line")
        if isinstance(line, int) and 1 <= line <= len(texts):
            severity = str(diagnostic["severity"])
            current = flagged.get(line)
            if current is None or SEVERITY_RANK[severity] < SEVERITY_RANK[current]:
                flagged[line] = severity
    shown: Iterable[int]
    if len(texts) <= FULL_VIEW_LINES:
        shown = range(1, len(texts) + 1)
    else:
        shown = sorted(
            {
                near
                for line in flagged
                for near in range(line - CONTEXT_LINES, line + CONTEXT_LINES + 1)
                if 1 <= near <= len(texts)
            }
        )
    view: list[SourceLine | None] = []
    previous = 0
    for number in shown:
        if number != previous + 1:
            view.append(None)
        text = texts[number - 1]
        view.append(SourceLine(number, text[:MAX_LINE_CHARS], flagged.get(number)))
        previous = number
    if previous and previous < len(texts):
        view.append(None)
    return view
