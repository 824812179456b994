"""Small builders shared by the workflow tests."""

from __future__ import annotations

from fabro.workflow.diagnostics import Diagnostic
from fabro.workflow.prepare import prepare

HEAD = "start [shape=Mdiamond]\n exit [shape=Msquare]\n"


def flow(body: str, graph_attrs: str = "") -> str:
    """A digraph with a start and an exit node plus `body`."""
    attrs = f"graph [{graph_attrs}]\n" if graph_attrs else ""
    return f"digraph T {{\n{attrs}{HEAD}{body}\n}}\n"


def linear(extra_nodes: str = "", extra_edges: str = "", graph_attrs: str = "") -> str:
    """start -> work -> exit, plus extra statements."""
    body = f'work [label="Work"]\n{extra_nodes}\nstart -> work -> exit\n{extra_edges}'
    return flow(body, graph_attrs)


def rules_of(diagnostics: list[Diagnostic], rule: str) -> list[Diagnostic]:
    return [d for d in diagnostics if d.rule == rule]


def reported(rule: str, text: str) -> list[tuple[str, str | None, object, str]]:
    """What `rule` reports on the workflow `text`: (severity, node, edge, message) each."""
    found = rules_of(prepare(text).diagnostics, rule)
    return [(d.severity, d.node_id, d.edge, d.message) for d in found]
