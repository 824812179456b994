"""What happens next, decided as a value (engine.md §6 steps 2-3 and 11-12, §12).

Given the graph, the run's state and what a stage produced, these functions return what the
engine does next: the node to run, the state delta to record, the edge event, or the failure
that ends the run. They read the state and never change it, store or publish nothing, and
never wait; the runner (runner.py) awaits handlers, applies and records the deltas, and
publishes. So every routing rule is tested as a plain function (tests/engine/test_step.py).
"""

from __future__ import annotations

from collections import ChainMap
from dataclasses import dataclass, replace
from typing import Any

from fabro.engine.delta import StateDelta
from fabro.engine.failure import BREAKER_CLASSES, signature
from fabro.engine.outcome import Outcome
from fabro.engine.routing import (
    retry_target,
    select_edge,
    stranded_failure,
    unsatisfied_goal_gate,
    visit_limit_error,
)
from fabro.engine.state import EngineState
from fabro.events.types import EdgeSelected, RunEvent
from fabro.workflow import conditions
from fabro.workflow.model import Graph, Node


@dataclass(frozen=True)
class RunFailure:
    """The run ends in failure (visit limits, circuit breakers, a stranded failure, ...)."""

    message: str
    failure_class: str = "deterministic"


@dataclass(frozen=True)
class Entry:
    """Entering a node: its visit number and the delta that counts it, or the failure."""

    visits: int
    delta: StateDelta
    failure: RunFailure | None = None


def enter(graph: Graph, state: EngineState, node: Node, simulated: bool) -> Entry:
    """Count a visit to ``node`` and check the visit limits (§12.5)."""
    visits = state.node_visits.get(node.id, 0) + 1
    limit = visit_limit_error(graph, node, visits, simulated)
    delta = StateDelta.of(node_visits={node.id: visits})
    return Entry(visits, delta, RunFailure(limit) if limit else None)


def goal_gate_jump(graph: Graph, state: EngineState) -> str | RunFailure | None:
    """At an exit node: None to complete, else the node an unsatisfied goal gate retries."""
    gate = unsatisfied_goal_gate(graph, state.completed_nodes, state.node_outcomes)
    if gate is None:
        return None
    target = retry_target(graph, gate)
    if target is None:
        return RunFailure(f"goal gate unsatisfied for node {gate.id} and no retry target")
    return target


@dataclass(frozen=True)
class StageEnd:
    """What a finished stage leads to.

    ``failure`` with ``recorded`` False ends the run before the stage is recorded (a circuit
    breaker); with ``recorded`` True, after (no edge to follow). ``restart``: the stage is
    followed by a loop restart (once it is recorded: the restart breaker's new count, to apply
    with ``EngineState.restart``), or the failure that blocks it.
    """

    delta: StateDelta
    target: str | None  # None: the run completes (a dead end, §12.4)
    failure_class: str = ""
    failure_signature: str = ""
    events: tuple[RunEvent, ...] = ()
    failure: RunFailure | None = None
    recorded: bool = True
    restart: StateDelta | RunFailure | None = None


def conditions_may_take_time(graph: Graph, node: Node) -> bool:
    """Whether choosing the edge after ``node`` may search a pattern (then it runs off the
    event loop: engine/offload.py)."""
    return any(conditions.may_take_time(edge.condition) for edge in graph.outgoing(node.id))


def after_stage(
    graph: Graph, state: EngineState, node: Node, outcome: Outcome, attempts: int
) -> StageEnd:
    """Steps 11-12: record ``outcome`` and choose the next node (§12.1-12.7)."""
    failure_class, sig, breaker = _classify(graph, state, node, outcome)
    if isinstance(breaker, RunFailure):
        return StageEnd(StateDelta(), None, failure=breaker, recorded=False)
    context: dict[str, Any] = {
        f"internal.retry_count.{node.id}": attempts,
        **outcome.context_updates,
        "outcome": outcome.status,
        "failure_class": failure_class,
        "failure_signature": sig,
    }
    if outcome.preferred_label:
        context["preferred_label"] = outcome.preferred_label
    delta = StateDelta.of(
        context=context,
        completed=node.id,
        node_outcomes={node.id: outcome.to_json()},
        node_retries={node.id: attempts},
        loop_failure_signatures=breaker,
    )
    end = StageEnd(delta, None, failure_class, sig)
    if outcome.jump_to_node:
        return _to(end, node, outcome.jump_to_node)
    edge = select_edge(graph, node.id, outcome, ChainMap(context, state.context))
    if edge is None:
        if outcome.status != "fail":
            return end  # a dead end: the run completes
        target = retry_target(graph, node)
        if target is None:
            return replace(end, failure=RunFailure(stranded_failure(node, outcome), failure_class))
        return _to(end, node, target)
    end = _to(end, node, edge.target, label=edge.label, condition=edge.condition or None)
    if not edge.loop_restart:
        return end
    return replace(end, restart=_loop_restart(graph, state, node, outcome, failure_class, sig))


def _to(
    end: StageEnd,
    node: Node,
    target: str,
    label: str | None = None,
    condition: str | None = None,
) -> StageEnd:
    event = EdgeSelected(from_node=node.id, to_node=target, label=label, condition=condition)
    return replace(end, target=target, events=(event,))


def _classify(
    graph: Graph, state: EngineState, node: Node, outcome: Outcome
) -> tuple[str, str, dict[str, int] | RunFailure]:
    """Failure class and signature (§12.7), and the circuit breaker's new count (or the
    failure when it fires)."""
    if outcome.status not in ("fail", "retry") or outcome.failure is None:
        return "", "", {}
    failure_class = outcome.failure.failure_class
    reason = outcome.failure.failure_signature or outcome.failure.message
    sig = signature(node.id, failure_class, reason)
    if failure_class not in BREAKER_CLASSES:
        return failure_class, sig, {}
    count = state.loop_failure_signatures.get(sig, 0) + 1
    limit = graph.loop_restart_signature_limit
    if count >= limit:
        return (
            failure_class,
            sig,
            RunFailure(
                f"deterministic failure cycle detected: signature {sig} repeated {count} "
                f"times (limit {limit})",
                failure_class,
            ),
        )
    return failure_class, sig, {sig: count}


def _loop_restart(
    graph: Graph,
    state: EngineState,
    node: Node,
    outcome: Outcome,
    failure_class: str,
    sig: str,
) -> StateDelta | RunFailure:
    """A `loop_restart` edge (§12.6): its checks, and the restart breaker's new count."""
    if failure_class and failure_class != "transient_infra":
        return RunFailure(
            f"loop_restart blocked: failure_class={failure_class} (requires transient_infra), "
            f"node={node.id}, failure_reason={outcome.failure_message}",
            failure_class,
        )
    if not sig:
        return StateDelta()
    count = state.restart_failure_signatures.get(sig, 0) + 1
    limit = graph.loop_restart_signature_limit
    if count >= limit:
        return RunFailure(
            f"loop_restart circuit breaker: signature {sig} repeated {count} times (limit {limit})",
            failure_class,
        )
    return StateDelta.of(restart_failure_signatures={sig: count})
