"""Validation rules about the graph's shape (rules 1-6 and 23 of §11).

One start and one exit, nothing flowing into the start or out of the exit, every edge
landing on a node, every node reachable from the start and, but for the exit, with
somewhere to go.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from fabro.workflow.diagnostics import ERROR, WARNING, Diagnostic

if TYPE_CHECKING:
    from fabro.workflow.validate import Subject

Diagnostics = Iterator[Diagnostic]


# 1
def start_node(s: Subject) -> Diagnostics:
    """Exactly one start node (shape Mdiamond or id start/Start)."""
    count = sum(1 for node in s.graph.nodes.values() if node.is_start_candidate)
    if count == 0:
        message = "Pipeline must have exactly one start node (shape=Mdiamond or id start/Start)"
        yield Diagnostic("start_node", ERROR, message)
    elif count > 1:
        message = f"Pipeline has {count} start nodes but must have exactly one"
        yield Diagnostic("start_node", ERROR, message)


# 2
def terminal_node(s: Subject) -> Diagnostics:
    """Exactly one terminal node."""
    count = len(s.graph.terminal_nodes())
    if count == 0:
        message = "Pipeline must have exactly one terminal node (shape=Msquare or id exit/end)"
        yield Diagnostic("terminal_node", ERROR, message)
    elif count > 1:
        message = f"Pipeline must have exactly one terminal node, found {count}"
        yield Diagnostic("terminal_node", ERROR, message)


# 3
def reachability(s: Subject) -> Diagnostics:
    """Every node is reachable from the run-time start node (skipped without one)."""
    start = s.graph.start_node()
    if start is None:
        return
    seen = {start.id}
    stack = [start.id]
    while stack:
        for edge in s.graph.outgoing(stack.pop()):
            if edge.target not in seen:
                seen.add(edge.target)
                stack.append(edge.target)
    for node in s.graph.nodes.values():
        if node.id not in seen:
            message = f"Node '{node.id}' is not reachable from the start node"
            yield Diagnostic("reachability", WARNING, message, node_id=node.id)


# 4
def edge_target_exists(s: Subject) -> Diagnostics:
    """Both ends of every edge exist (only graphs built in code can break this)."""
    nodes = s.graph.nodes
    for edge in s.graph.edges:
        if edge.source not in nodes:
            message = f"Edge source '{edge.source}' references non-existent node"
            yield Diagnostic("edge_target_exists", ERROR, message, edge=(edge.source, edge.target))
        if edge.target not in nodes:
            message = f"Edge from '{edge.source}' targets non-existent node '{edge.target}'"
            yield Diagnostic("edge_target_exists", ERROR, message, edge=(edge.source, edge.target))


# 5
def start_no_incoming(s: Subject) -> Diagnostics:
    """The run-time start node has no incoming edges."""
    start = s.graph.start_node()
    if start is not None and (count := len(s.graph.incoming(start.id))):
        message = f"Start node '{start.id}' has {count} incoming edge(s) but must have none"
        yield Diagnostic("start_no_incoming", ERROR, message, node_id=start.id)


# 6
def exit_no_outgoing(s: Subject) -> Diagnostics:
    """Terminal nodes have no outgoing edges."""
    for node in s.graph.terminal_nodes():
        if count := len(s.graph.outgoing(node.id)):
            message = f"Exit node '{node.id}' has {count} outgoing edge(s) but must have none"
            yield Diagnostic("exit_no_outgoing", ERROR, message, node_id=node.id)


# 23
def dead_end(s: Subject) -> Diagnostics:
    """Non-terminal nodes have somewhere to go."""
    for node in s.graph.nodes.values():
        if not node.is_terminal and not s.graph.outgoing(node.id):
            message = (
                f"Node '{node.id}' has no outgoing edges and is not an exit node; "
                "the run ends there"
            )
            yield Diagnostic("dead_end", WARNING, message, node_id=node.id)
