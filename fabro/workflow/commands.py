"""The logic behind `fabro validate` and `fabro graph` (cli.md §3, §4); cli.py only wires click.

Each command returns a `CommandResult` (exit status, stdout payload, stderr lines) so it can
be tested without a terminal or click.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fabro.workflow.errors import (
    DotParseError,
    GraphvizError,
    WorkflowInputError,
    WorkflowSourceError,
)
from fabro.workflow.files import goal_option
from fabro.workflow.prepare import Prepared, prepare
from fabro.workflow.render import normalized_dot, render
from fabro.workflow.source import WorkflowSource, resolve_workflow

_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class CommandResult:
    """What a command prints and how it exits."""

    exit_code: int
    stdout: bytes = b""
    stderr: list[str] = field(default_factory=list)


def parse_var_options(options: Sequence[str]) -> dict[str, str]:
    """`--var KEY=VALUE` options as a dict; raises WorkflowSourceError for a malformed one."""
    variables: dict[str, str] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or not _VAR_NAME.fullmatch(key):
            raise WorkflowSourceError(f"Invalid --var '{option}': expected KEY=VALUE")
        variables[key] = value
    return variables


def parse_label_options(options: Sequence[str]) -> dict[str, str]:
    """`--label KEY=VALUE` options as a dict; raises WorkflowSourceError for a malformed one."""
    labels: dict[str, str] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or not key:
            raise WorkflowSourceError(f"Invalid --label '{option}': expected KEY=VALUE")
        labels[key] = value
    return labels


def _prepare_source(
    source: WorkflowSource, goal: str | None, variables: dict[str, str]
) -> Prepared:
    return prepare(
        source.text,
        path=source.path,
        goal=goal,
        config_goal=source.goal,
        vars={**source.vars, **variables},
    )


def validate_command(
    argument: str,
    *,
    var_options: Sequence[str] = (),
    goal: str | None = None,
    as_json: bool = False,
    registry: Path | None = None,
) -> CommandResult:
    """`fabro validate FILE`: text report on stderr, or the JSON object on stdout."""
    try:
        variables = parse_var_options(var_options)
        source = resolve_workflow(argument, registry=registry)
        goal = goal_option(goal)
    except WorkflowSourceError as exc:
        return CommandResult(2, stderr=[f"error: {exc}"])
    display = str(source.path)
    try:
        prepared = _prepare_source(source, goal, variables)
    except WorkflowInputError as exc:
        return CommandResult(1, stderr=[*source.warnings, f"error: {exc.detail}"])
    except DotParseError as exc:
        if as_json:
            report = {
                "workflow": None,
                "path": display,
                "nodes": 0,
                "edges": 0,
                "valid": False,
                "diagnostics": [
                    {
                        "rule": "parse_error",
                        "severity": "error",
                        "message": f"Parse error: {exc.location}",
                        "line": exc.line,
                        "col": exc.col,
                    }
                ],
            }
            return CommandResult(1, _json_bytes(report), list(source.warnings))
        return CommandResult(1, stderr=[*source.warnings, f"error: Parse error: {exc}"])
    code = 0 if prepared.ok else 1
    if as_json:
        report = json_report(prepared, display)
        return CommandResult(code, _json_bytes(report), list(source.warnings))
    return CommandResult(code, stderr=[*source.warnings, *text_report(prepared, display)])


def json_report(prepared: Prepared, display_path: str) -> dict[str, Any]:
    """The `--json` object of cli.md §3."""
    graph = prepared.graph
    return {
        "workflow": graph.name,
        "path": display_path,
        "nodes": len(graph.nodes),
        "edges": len(graph.edges),
        "valid": prepared.ok,
        "diagnostics": [d.to_json() for d in prepared.diagnostics],
    }


def text_report(prepared: Prepared, display_path: str) -> list[str]:
    """The text report of cli.md §3, one line per entry."""
    graph = prepared.graph
    lines = [
        f"Workflow: {graph.name} ({len(graph.nodes)} nodes, {len(graph.edges)} edges)",
        f"Graph: {display_path}",
    ]
    lines.extend(d.format() for d in prepared.diagnostics)
    lines.append("Validation: OK" if prepared.ok else "error: Validation failed")
    return lines


def graph_command(
    argument: str,
    *,
    fmt: str = "svg",
    output: Path | None = None,
    var_options: Sequence[str] = (),
    stdout_is_tty: bool = False,
    registry: Path | None = None,
    timeout_s: float = 10,
) -> CommandResult:
    """`fabro graph FILE`: prepare, validate, render; the image goes to OUT or stdout."""
    if fmt != "svg" and output is None and stdout_is_tty:  # PNG and PDF are binary
        message = f"error: Refusing to write {fmt.upper()} to a terminal; use -o FILE"
        return CommandResult(2, stderr=[message])
    try:
        variables = parse_var_options(var_options)
        source = resolve_workflow(argument, registry=registry)
    except WorkflowSourceError as exc:
        return CommandResult(2, stderr=[f"error: {exc}"])
    try:
        prepared = _prepare_source(source, None, variables)
    except DotParseError as exc:
        return CommandResult(1, stderr=[*source.warnings, f"error: Parse error: {exc}"])
    except WorkflowInputError as exc:
        return CommandResult(1, stderr=[*source.warnings, f"error: {exc.detail}"])
    stderr = [*source.warnings, *(d.format() for d in prepared.diagnostics)]
    if not prepared.ok:
        return CommandResult(1, stderr=[*stderr, "error: Validation failed"])
    try:
        image = render(normalized_dot(prepared.graph), fmt, timeout_s=timeout_s)
    except GraphvizError as exc:
        return CommandResult(1, stderr=[*stderr, f"error: {exc.detail}"])
    if output is None:
        return CommandResult(0, image, stderr)
    try:
        output.write_bytes(image)
    except OSError as exc:
        return CommandResult(1, stderr=[*stderr, f"error: Cannot write {output}: {exc.strerror}"])
    return CommandResult(0, b"", stderr)


def _json_bytes(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, ensure_ascii=False) + "\n").encode("utf-8")
