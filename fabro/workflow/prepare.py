"""The preparation pipeline every entry point uses (workflow-language.md §1).

    prepared = prepare(text, path=Path("flows/a.dot"), goal=None, vars={"repo": "x"})
    if not prepared.ok: ...            # error diagnostics make the workflow unusable
    graph = prepared.graph             # store graph.to_json(); the engine runs that copy

A parse error raises `DotParseError`; a workflow or value over `limits` (or a value that cannot
be quoted where a script uses it) raises `WorkflowInputError`; everything else is reported as
diagnostics. Preparation is CPU-bound: the server runs it off the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fabro.config import LimitsSettings
from fabro.workflow.diagnostics import Diagnostic
from fabro.workflow.errors import StylesheetSyntaxError, WorkflowInputError
from fabro.workflow.files import inline_file_references
from fabro.workflow.model import Graph
from fabro.workflow.parser import parse_graph
from fabro.workflow.stylesheet import apply_stylesheet, parse_stylesheet
from fabro.workflow.validate import Subject, validate
from fabro.workflow.value import Value
from fabro.workflow.variables import Budget, expand_graph

DEFAULT_LIMITS = LimitsSettings()


@dataclass
class Prepared:
    """A prepared graph (steps 1-7) and its diagnostics (step 8) in rule order."""

    graph: Graph
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        """Error diagnostics."""
        return [d for d in self.diagnostics if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        """Non-error diagnostics (warnings and infos), as `POST /runs` reports them."""
        return [d for d in self.diagnostics if not d.is_error]

    @property
    def ok(self) -> bool:
        """No error diagnostics."""
        return not any(d.is_error for d in self.diagnostics)

    def error_summary(self) -> str:
        """The messages of all error diagnostics joined by `; ` (API `Validation error: ...`)."""
        return "; ".join(d.message for d in self.errors)


def read_source(path: Path) -> str:
    """Read a workflow file as UTF-8, dropping a leading BOM (step 1)."""
    return path.read_text(encoding="utf-8").removeprefix("\ufeff")


def prepare(
    source: str,
    *,
    path: Path | None = None,
    goal: str | None = None,
    config_goal: str | None = None,
    vars: Mapping[str, str] | None = None,
    resolve_files: bool = True,
    limits: LimitsSettings = DEFAULT_LIMITS,
) -> Prepared:
    """Parse, build, inline @files, override the goal, expand vars, style, then validate.

    `path` names the DOT file (error messages; `@file` base folder). Without a path, or with
    `resolve_files=False` (`dot_source` submissions), `@file` references stay unresolved.
    `config_goal` is the run configuration's goal (`workflow.toml`, a run `.toml`): written by
    whoever wrote the workflow, it may be `@file` like the graph's own goal. `goal` is the
    caller's (a request's `goal`, `--goal`): plain text, never read as a file, so it is set
    only after inlining. `limits` bounds the source, the graph and the expanded texts.
    """
    check_source_size(source, limits)
    graph = parse_graph(source.removeprefix("\ufeff"), file=str(path) if path else None)
    check_graph_size(graph, limits)
    if config_goal is not None:
        graph.attrs["goal"] = Value.string(config_goal)
    if resolve_files and path is not None:
        inline_file_references(graph, path.parent)
    if goal is not None:
        graph.attrs["goal"] = Value.string(goal)
    undefined = expand_graph(graph, vars or {}, Budget(limits))
    subject = Subject(graph, undefined)
    stylesheet_text = graph.get("model_stylesheet")
    if stylesheet_text is not None:
        try:
            rules = parse_stylesheet(stylesheet_text)
        except StylesheetSyntaxError as exc:
            subject.stylesheet_error = exc.message
        else:
            subject.stylesheet = rules
            apply_stylesheet(graph, rules)
    return Prepared(graph, validate(subject))


def check_source_size(source: str, limits: LimitsSettings) -> None:
    """Refuse a DOT source over `limits.max_source_bytes` before parsing it."""
    limit = limits.max_source_bytes
    size = len(source) if source.isascii() else len(source.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise WorkflowInputError(
            f"Workflow source exceeds limits.max_source_bytes ({limit} bytes)."
        )


def check_graph_size(graph: Graph, limits: LimitsSettings) -> None:
    """Refuse a graph over `limits.max_nodes` or `limits.max_edges` before validating it."""
    if len(graph.nodes) > limits.max_nodes:
        raise WorkflowInputError(
            f"Workflow has more than limits.max_nodes ({limits.max_nodes}) nodes."
        )
    if len(graph.edges) > limits.max_edges:
        raise WorkflowInputError(
            f"Workflow has more than limits.max_edges ({limits.max_edges}) edges."
        )
