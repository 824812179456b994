"""Fidelity, thread ids and the preamble put before LLM prompts (workflow-language.md §15)."""

from __future__ import annotations

import json
from typing import Any

from fabro.engine.state import EngineState
from fabro.workflow import kinds
from fabro.workflow.model import Graph, Node

FIDELITY_MODES = ("full", "truncate", "compact", "summary:low", "summary:medium", "summary:high")
INTERNAL_PREFIXES = ("internal.", "graph.", "thread.", "current")
_HIDDEN_IN_COMPACT = ("outcome", "last_stage", "last_response", "preferred_label")


def resolve_fidelity(graph: Graph, node: Node, incoming_fidelity: str | None) -> str:
    for candidate in (incoming_fidelity, node.fidelity, graph.default_fidelity):
        if candidate in FIDELITY_MODES:
            return candidate
    return "compact"


def resolve_thread(
    graph: Graph, node: Node, incoming_thread: str | None, previous: str | None
) -> str | None:
    classes = node.classes
    for candidate in (
        node.thread_id,
        incoming_thread,
        graph.default_thread,
        classes[0] if classes else None,
        previous,
    ):
        if candidate:
            return candidate
    return None


def _incoming(graph: Graph, node: Node, previous: str | None) -> tuple[str | None, str | None]:
    """fidelity and thread_id of the edge just followed (previous node -> node)."""
    if previous is None:
        return None, None
    for edge in graph.outgoing(previous):
        if edge.target == node.id:
            return edge.fidelity, edge.thread_id
    return None, None


def prepare_context(graph: Graph, node: Node, state: EngineState, recovered: bool) -> None:
    """Step 4 of the loop: set the per-stage engine keys of the context."""
    previous = state.current_node
    edge_fidelity, edge_thread = _incoming(graph, node, previous)
    fidelity = resolve_fidelity(graph, node, edge_fidelity)
    if recovered and fidelity == "full":
        fidelity = "summary:high"  # the in-memory conversation did not survive the restart
    thread = resolve_thread(graph, node, edge_thread, previous)
    context = state.context
    context["internal.fidelity"] = fidelity
    context["internal.thread_id"] = thread
    if thread:
        context[f"thread.{thread}.current_node"] = node.id
    context["internal.node_visit_count"] = state.node_visits.get(node.id, 1)
    context["current_node"] = node.id
    context["current.preamble"] = build_preamble(graph, state, fidelity)


def _visible(context: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in context.items() if not k.startswith(INTERNAL_PREFIXES)]


def _text(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text[:limit]


LineCache = dict[tuple[str, bool], tuple[dict[str, Any], list[str]]]


def _node_lines(node: Node, outcome: dict[str, Any], detailed: bool, cache: LineCache) -> list[str]:
    """The lines of one completed stage. Long runs rebuild the preamble before every stage
    while the stage list only grows, so lines are cached until the node's outcome changes
    (the cache holds the outcome itself and compares identity)."""
    cached = cache.get((node.id, detailed))
    if cached is not None and cached[0] is outcome:
        return cached[1]
    lines = [f"- **{node.id}**: {outcome.get('status', 'unknown')}"]
    if detailed:
        if node.kind == kinds.COMMAND and node.script:
            lines.append(f"  script: {node.script}")
        usage = outcome.get("usage")
        if usage:
            lines.append(
                f"  model: {usage.get('model')} ({usage.get('input_tokens', 0)} in, "
                f"{usage.get('output_tokens', 0)} out)"
            )
        if outcome.get("files_touched"):
            lines.append(f"  files: {', '.join(outcome['files_touched'])}")
    cache[(node.id, detailed)] = (outcome, lines)
    return lines


def _stage_lines(graph: Graph, state: EngineState, detailed: bool) -> list[str]:
    lines = ["## Completed stages"]
    empty: dict[str, Any] = {}
    for node_id in state.completed_nodes:
        node = graph.nodes.get(node_id)
        if node is None or node.kind in (kinds.START, kinds.EXIT):
            continue
        outcome = state.node_outcomes.get(node_id, empty)
        lines += _node_lines(node, outcome, detailed, state.line_cache)
    if detailed and state.completed_nodes:
        last = graph.nodes.get(state.completed_nodes[-1])
        output = state.context.get("command.output")
        if last is not None and last.kind == kinds.COMMAND and output:
            lines.append(f"  output: {_text(output, 500)}")
    return lines


def _parallel_section(state: EngineState) -> list[str]:
    results = state.context.get("parallel.results")
    if not isinstance(results, list):
        return []
    lines = ["## Parallel results"]
    for item in results:
        if isinstance(item, dict):
            lines.append(f"- {item.get('id')}: {item.get('status')}")
            if item.get("response"):
                lines.append(f"  {_text(item['response'], 2000)}")
    return lines


def build_preamble(graph: Graph, state: EngineState, fidelity: str) -> str:
    """The preamble text for ``fidelity`` (its wording beyond the sections is not contractual)."""
    if fidelity == "full":
        return ""
    goal = state.context.get("graph.goal") or graph.goal
    run_id = state.context.get("internal.run_id", "")
    if fidelity == "truncate":
        return f"Goal: {goal}\nRun ID: {run_id}"
    lines = [f"Goal: {goal}"]
    if fidelity == "summary:high":
        for node_id in state.completed_nodes:
            node = graph.nodes.get(node_id)
            if node is None or node.kind in (kinds.START, kinds.EXIT):
                continue
            outcome = state.node_outcomes.get(node_id, {})
            lines.append(f"## Stage: {node_id}")
            lines.append(f"status: {outcome.get('status', 'unknown')}")
            if outcome.get("notes"):
                lines.append(f"notes: {outcome['notes']}")
            failure = outcome.get("failure") or {}
            if failure.get("message"):
                lines.append(f"failure: {failure['message']}")
            response = state.context.get(f"response.{node_id}")
            if response:
                lines.append(_text(response, 4000))
        lines += ["## Context", *(f"- {k}: {_text(v, 4000)}" for k, v in _visible(state.context))]
    else:
        lines += _stage_lines(graph, state, detailed=fidelity != "summary:low")
        if fidelity in ("compact", "summary:medium"):
            shown = [
                (k, v)
                for k, v in _visible(state.context)
                if not k.startswith("response.") and k not in _HIDDEN_IN_COMPACT
            ]
            if shown:
                lines += ["## Context", *(f"- {k}: {_text(v, 500)}" for k, v in shown)]
        if fidelity == "summary:medium" and state.context.get("last_response"):
            lines += ["## Previous response", _text(state.context["last_response"], 2000)]
    lines += _parallel_section(state)
    parent = state.context.get("internal.parent_preamble")
    if parent:
        return "\n".join(
            ["## Parent workflow context", str(parent), "## Current sub-workflow", *lines]
        )
    return "\n".join(lines)
