"""Validation rules about where a run goes next (fabro's rules 28-30 of §11).

Routing that reads one way and runs another: several unconditional edges of which only one
is ever taken, `outcome=` compared with a word no stage returns, and a stage whose failure
continues down the same edge as its success (§12.4: a failed stage follows its edges).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

from fabro.workflow import kinds
from fabro.workflow.conditions import And, Clause, Condition, Not, Or, parse_condition
from fabro.workflow.diagnostics import WARNING, Diagnostic
from fabro.workflow.errors import ConditionSyntaxError
from fabro.workflow.model import Edge, Graph, Node

if TYPE_CHECKING:
    from fabro.workflow.validate import Subject

Diagnostics = Iterator[Diagnostic]

# The statuses an outcome can have (§13); `outcome` in a condition is one of them.
OUTCOMES: Final = ("success", "fail", "partial_success", "retry", "skipped")
# Kinds whose stage can end in `fail` and then follow its edges like a success. Parallel
# nodes are left out (every outgoing edge is a branch, so no edge can be kept for failures),
# and so are human gates (a failed gate fails closed, never following an ordinary edge).
FAILING_KINDS: Final = frozenset(
    {kinds.AGENT, kinds.PROMPT, kinds.COMMAND, kinds.FAN_IN, kinds.MANAGER}
)


def _unconditional(graph: Graph, node: Node) -> list[Edge]:
    return [edge for edge in graph.outgoing(node.id) if not edge.is_conditional]


def _taken(edges: list[Edge]) -> Edge:
    """The unconditional edge the engine takes (§12.1 step 5): highest weight, then target."""
    return min(edges, key=lambda edge: (-edge.weight, edge.target))


# 28
def unconditional_edge_count(s: Subject) -> Diagnostics:
    """Several unconditional edges out of one node: only one is taken.

    Parallel nodes run every edge and human gates offer every edge as an option. An LLM
    stage may pick among labelled edges (`preferred_next_label`), so it is warned only when
    fewer than two of them have a label (an unlabelled one is then a deliberate default).
    """
    for node in s.graph.nodes.values():
        if node.kind in (kinds.PARALLEL, kinds.HUMAN):
            continue
        edges = _unconditional(s.graph, node)
        if len(edges) < 2:
            continue
        labelled = sum(1 for edge in edges if (edge.label or "").strip())
        if node.kind in kinds.LLM_KINDS and labelled >= 2:
            continue
        targets = ", ".join(edge.target for edge in edges)
        message = (
            f"Node '{node.id}' has {len(edges)} unconditional edges ({targets}); only one is "
            f"taken ('{_taken(edges).target}'); use shape=component for a fan-out"
        )
        yield Diagnostic("unconditional_edge_count", WARNING, message, node_id=node.id)


# 29
def outcome_value(s: Subject) -> Diagnostics:
    """`outcome=X` / `outcome!=X` name a status a stage can return."""
    for edge in s.graph.edges:
        if not edge.is_conditional:
            continue
        try:
            condition = parse_condition(edge.condition)
        except ConditionSyntaxError:
            continue  # condition_syntax reports it
        for clause in _clauses(condition):
            if clause.key != "outcome" or clause.op not in ("=", "!=") or clause.value in OUTCOMES:
                continue
            close = difflib.get_close_matches(clause.value.lower(), OUTCOMES, n=1, cutoff=0.5)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            message = (
                f"Condition '{edge.condition}' on edge {edge.describe()} compares outcome with "
                f"'{clause.value}', which is not an outcome ({', '.join(OUTCOMES)}){hint}"
            )
            yield Diagnostic("outcome_value", WARNING, message, edge=(edge.source, edge.target))


def _clauses(condition: Condition) -> Iterator[Clause]:
    if isinstance(condition, Clause):
        yield condition
    elif isinstance(condition, Not):
        yield from _clauses(condition.operand)
    elif isinstance(condition, And | Or):
        for part in condition.parts:
            yield from _clauses(part)


# 30
def failure_falls_through(s: Subject) -> Diagnostics:
    """A stage that can fail and has only unconditional edges goes on as if it succeeded.

    Neither `max_retries` nor `retry_target` changes that: a retry target is used only when
    no edge can be followed (§12.4). Goal gates are checked at the exit, and `auto_status`
    stages never fail, so neither is reported, and neither are parallel branches: a branch runs
    its one node and hands its outcome to the join, never following its own edges (§9.5).
    """
    branches = {
        edge.target
        for node in s.graph.nodes.values()
        if node.kind == kinds.PARALLEL
        for edge in s.graph.outgoing(node.id)
    }
    for node in s.graph.nodes.values():
        if node.kind not in FAILING_KINDS or node.goal_gate or node.auto_status:
            continue
        if node.id in branches:
            continue
        edges = s.graph.outgoing(node.id)
        if not edges or any(edge.is_conditional for edge in edges):
            continue
        message = (
            f"Node '{node.id}' can fail and has only unconditional edges: a failure goes on to "
            f"'{_taken(edges).target}' as if it had succeeded; add an edge with "
            'condition="outcome=fail"'
        )
        yield Diagnostic("failure_falls_through", WARNING, message, node_id=node.id)
