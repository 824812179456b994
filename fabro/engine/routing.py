"""Pure routing decisions (workflow-language.md §12): plain functions over plain data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fabro.engine.outcome import SUCCESSFUL, Outcome
from fabro.workflow import kinds
from fabro.workflow.conditions import condition_holds
from fabro.workflow.labels import normalize_label
from fabro.workflow.model import Edge, Graph, Node

SIMULATED_VISIT_LIMIT = 10


def _best(edges: Sequence[Edge]) -> Edge | None:
    """Highest weight, ties to the lexicographically smallest target id."""
    if not edges:
        return None
    return min(edges, key=lambda edge: (-edge.weight, edge.target))


def fails_closed(node: Node | None, outcome: Outcome) -> bool:
    """A failed human gate: it never follows an ordinary edge (fabro fix, as the original
    later did). Only a failure edge or a retry target takes the run on; else the run fails."""
    return outcome.status == "fail" and node is not None and node.kind == kinds.HUMAN


def is_failure_edge(edge: Edge, fields: Mapping[str, object], context: Mapping[str, Any]) -> bool:
    """The edge is taken because the stage failed: its condition holds for this failed outcome
    and would not for a success (`outcome=fail`, `outcome!=success`, maybe with more clauses)."""
    if not edge.is_conditional or not condition_holds(edge.condition, fields, context):
        return False
    return not condition_holds(edge.condition, {**fields, "outcome": "success"}, context)


def select_edge(
    graph: Graph, node_id: str, outcome: Outcome, context: Mapping[str, Any]
) -> Edge | None:
    """The next edge after ``node_id`` finished with ``outcome`` (§12.1), or None."""
    edges = graph.outgoing(node_id)
    if not edges:
        return None
    fields = {"outcome": outcome.status, "preferred_label": outcome.preferred_label or ""}
    if fails_closed(graph.nodes.get(node_id), outcome):
        return _best([edge for edge in edges if is_failure_edge(edge, fields, context)])
    matching = [
        e for e in edges if e.is_conditional and condition_holds(e.condition, fields, context)
    ]
    if matching:
        return _best(matching)
    if outcome.preferred_label:
        wanted = normalize_label(outcome.preferred_label)
        for edge in edges:
            if edge.label is not None and normalize_label(edge.label) == wanted:
                return edge
    for target in outcome.suggested_next_ids:
        for edge in edges:
            if edge.target == target:
                return edge
    unconditional = [edge for edge in edges if not edge.is_conditional]
    return _best(unconditional) or _best(edges)


def retry_target(graph: Graph, node: Node | None) -> str | None:
    """First existing node of: node retry_target, node fallback, graph target, graph fallback."""
    candidates = (
        node.retry_target if node else None,
        node.fallback_retry_target if node else None,
        graph.retry_target,
        graph.fallback_retry_target,
    )
    return next((c for c in candidates if c and c in graph.nodes), None)


def stranded_failure(node: Node, outcome: Outcome) -> str:
    """The run's error when a failed stage has no edge to follow and no retry target (§12.4):
    a gate that fails closed says which gate went unanswered and why."""
    if fails_closed(node, outcome) and outcome.failure_message:
        return outcome.failure_message
    return f"stage {node.id} failed with no outgoing fail edge"


def unsatisfied_goal_gate(
    graph: Graph, completed_nodes: Sequence[str], node_outcomes: Mapping[str, Mapping[str, Any]]
) -> Node | None:
    """The first goal gate (in order of first completion) whose latest outcome is not a success."""
    seen: set[str] = set()
    for node_id in completed_nodes:
        if node_id in seen:
            continue
        seen.add(node_id)
        node = graph.nodes.get(node_id)
        outcome = node_outcomes.get(node_id)
        if node and node.goal_gate and outcome and outcome.get("status") not in SUCCESSFUL:
            return node
    return None


def visit_limit_error(graph: Graph, node: Node, visits: int, simulated: bool) -> str | None:
    """The engine error when entering ``node`` for the ``visits``-th time breaks a limit."""
    if node.max_visits > 0:
        if visits >= node.max_visits:
            return (
                f'node "{node.id}" visited {visits} times (node limit {node.max_visits}); '
                "run is stuck in a cycle"
            )
        return None
    limit = graph.max_node_visits
    if limit is None:
        limit = SIMULATED_VISIT_LIMIT if simulated else 0
    if limit > 0 and visits >= limit:
        return (
            f'node "{node.id}" visited {visits} times (graph limit {limit}); '
            "run is stuck in a cycle"
        )
    return None


def stage_id(node_id: str, visit: int) -> str:
    """`<node>` for the first visit, `<node>-visit_<n>` after."""
    return node_id if visit <= 1 else f"{node_id}-visit_{visit}"


def parallel_join_target(graph: Graph, branch_targets: Sequence[str]) -> str | None:
    """The smallest node that directly follows every branch (normally the fan-in)."""
    common: set[str] | None = None
    for target in branch_targets:
        successors = {edge.target for edge in graph.outgoing(target)}
        common = successors if common is None else common & successors
    return min(common) if common else None
