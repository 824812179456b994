"""Fidelity, thread ids and the preamble put before LLM prompts (workflow-language.md §15).

The preamble is kept per run (``PreambleLog``, on the engine state) and extended as stages
complete, instead of being rebuilt from every earlier stage before each one; and it is
bounded, so a stage of a 5,000-stage run costs and stores what a stage of a 50-stage run does
(the preamble is stored with each LLM stage: ``prompt.md``, the `Prompt` event, turn 1 and the
checkpoint's ``current.preamble``). The spec sets no bound; these are fabro's:

- Stage lists (``summary:low``, ``compact``, ``summary:medium``) show the last
  ``PREAMBLE_STAGES`` stages in full; before them one line counts the earlier stages and how
  they ended, e.g. ``- 980 earlier stages not listed (975 success, 5 fail)``. ``summary:high``
  keeps a section for each of the last ``PREAMBLE_STAGES`` stages, after a line of the same
  kind.
- ``## Context`` shows the ``PREAMBLE_CONTEXT_KEYS`` keys set most recently, oldest first,
  with a closing line saying so once there were more.
- Each detail line of a stage (script, model, files touched) is cut to ``DETAIL_CHARS``.

Which keys the context section may show is followed the same way: the keys each completed
stage set (its ``context_updates`` and the engine's outcome keys, engine.md §6 step 11), and
one scan of the whole context when the log starts, at the start of a run, after a recovery or
a loop restart.
"""

from __future__ import annotations

import json
from collections import Counter, OrderedDict, deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fabro.engine.state import EngineState
from fabro.workflow import kinds
from fabro.workflow.model import Graph, Node

FIDELITY_MODES = ("full", "truncate", "compact", "summary:low", "summary:medium", "summary:high")
INTERNAL_PREFIXES = ("internal.", "graph.", "thread.", "current")
_HIDDEN_IN_COMPACT = ("outcome", "last_stage", "last_response", "preferred_label")
# The keys the engine sets after each stage besides the stage's own context_updates.
_ENGINE_KEYS = ("outcome", "failure_class", "failure_signature", "preferred_label")

PREAMBLE_STAGES = 20  # stages listed in full; earlier ones are counted on one line
PREAMBLE_CONTEXT_KEYS = 30  # context keys shown, the most recently set
DETAIL_CHARS = 500  # each detail line of a stage


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


def stage_keys(graph: Graph, node: Node, state: EngineState, recovered: bool) -> dict[str, Any]:
    """Step 4 of the loop: the per-stage engine keys of the context, but the preamble (built
    once they are set: ``build_preamble`` with their ``internal.fidelity``)."""
    previous = state.current_node
    edge_fidelity, edge_thread = _incoming(graph, node, previous)
    fidelity = resolve_fidelity(graph, node, edge_fidelity)
    if recovered and fidelity == "full":
        fidelity = "summary:high"  # the in-memory conversation did not survive the restart
    thread = resolve_thread(graph, node, edge_thread, previous)
    keys: dict[str, Any] = {"internal.fidelity": fidelity, "internal.thread_id": thread}
    if thread:
        keys[f"thread.{thread}.current_node"] = node.id
    keys["internal.node_visit_count"] = state.node_visits.get(node.id, 1)
    keys["current_node"] = node.id
    return keys


def _text(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text[:limit]


def _visible(key: str) -> bool:
    return not key.startswith(INTERNAL_PREFIXES)


def _compact_visible(key: str) -> bool:
    return _visible(key) and not key.startswith("response.") and key not in _HIDDEN_IN_COMPACT


class RecentKeys:
    """The ``PREAMBLE_CONTEXT_KEYS`` context keys set most recently, oldest first."""

    def __init__(self) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()
        self.trimmed = False  # a key was dropped to keep the bound

    def add(self, key: str) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        if len(self._keys) > PREAMBLE_CONTEXT_KEYS:
            self._keys.popitem(last=False)
            self.trimmed = True

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)


@dataclass(slots=True)
class Entry:
    """One completed stage as the preamble lists it; its lines are rendered once per style."""

    node: Node
    kind: str  # the node's kind when it completed
    outcome: Mapping[str, Any]
    lines: dict[str, list[str]] = field(default_factory=dict)


class PreambleLog:
    """What a run's preambles show of its history: the last stages, the earlier ones counted,
    and the recently set context keys. Derived from the state, never checkpointed."""

    def __init__(self) -> None:
        self.recent: deque[Entry] = deque(maxlen=PREAMBLE_STAGES)
        self.earlier: Counter[str] = Counter()  # status -> stages no longer listed
        self.keys = RecentKeys()  # for summary:high
        self.compact_keys = RecentKeys()  # for compact and summary:medium
        self._completed: list[str] | None = None  # the list followed (a loop restart swaps it)
        self._context: dict[str, Any] | None = None
        self._seen = 0  # entries of the list already taken in
        self._last_id = ""  # the last of them

    def follow(self, graph: Graph, state: EngineState) -> None:
        """Take in the stages completed since the last call (all of them after a restart)."""
        completed = state.completed_nodes
        if not self._follows(state):
            self._start(state)
        for index in range(self._seen, len(completed)):
            self._add(graph, completed[index], state)
        self._seen = len(completed)

    def _follows(self, state: EngineState) -> bool:
        completed = state.completed_nodes
        seen = self._seen
        return (
            completed is self._completed
            and state.context is self._context
            and len(completed) >= seen
            and (seen == 0 or self._last_id == completed[seen - 1])
        )

    def _start(self, state: EngineState) -> None:
        self.recent.clear()
        self.earlier.clear()
        self.keys, self.compact_keys = RecentKeys(), RecentKeys()
        self._seen = 0
        self._completed = state.completed_nodes
        self._context = state.context
        for key in state.context:  # once per run, recovery or loop restart
            self._remember(key)

    def _remember(self, key: str) -> None:
        if _visible(key):
            self.keys.add(key)
            if _compact_visible(key):
                self.compact_keys.add(key)

    def _add(self, graph: Graph, node_id: str, state: EngineState) -> None:
        self._last_id = node_id
        outcome = state.node_outcomes.get(node_id, {})
        for key in outcome.get("context_updates", ()):
            self._remember(key)
        for key in _ENGINE_KEYS:
            if key in state.context:
                self._remember(key)
        node = graph.nodes.get(node_id)
        if node is None:
            return
        kind = node.kind
        if kind in (kinds.START, kinds.EXIT):
            return
        if len(self.recent) == self.recent.maxlen:
            self.earlier[self.recent[0].outcome.get("status", "unknown")] += 1
        self.recent.append(Entry(node, kind, outcome))

    def earlier_line(self) -> str | None:
        """How many stages are no longer listed and how they ended, or None."""
        total = sum(self.earlier.values())
        if not total:
            return None
        counts = ", ".join(
            f"{count} {status}"
            for status, count in sorted(self.earlier.items(), key=lambda item: (-item[1], item[0]))
        )
        return f"{total} earlier stages not listed ({counts})"


def _lines(entry: Entry, detailed: bool) -> list[str]:
    style = "detailed" if detailed else "low"
    cached = entry.lines.get(style)
    if cached is not None:
        return cached
    node, outcome = entry.node, entry.outcome
    lines = [f"- **{node.id}**: {outcome.get('status', 'unknown')}"]
    if detailed:
        if entry.kind == kinds.COMMAND and node.script:
            lines.append(_detail(f"  script: {node.script}"))
        usage = outcome.get("usage")
        if usage:
            lines.append(
                f"  model: {usage.get('model')} ({usage.get('input_tokens', 0)} in, "
                f"{usage.get('output_tokens', 0)} out)"
            )
        if outcome.get("files_touched"):
            lines.append(_detail(f"  files: {', '.join(outcome['files_touched'])}"))
    entry.lines[style] = lines
    return lines


def _detail(line: str) -> str:
    return line[:DETAIL_CHARS]


def _stage_lines(log: PreambleLog, state: EngineState, graph: Graph, detailed: bool) -> list[str]:
    lines = ["## Completed stages"]
    earlier = log.earlier_line()
    if earlier:
        lines.append(f"- {earlier}")
    for entry in log.recent:
        lines += _lines(entry, detailed)
    output = state.context.get("command.output") if detailed else None
    if output and state.completed_nodes:
        last = graph.nodes.get(state.completed_nodes[-1])
        if last is not None and last.kind == kinds.COMMAND:
            lines.append(f"  output: {_text(output, 500)}")
    return lines


def _high_sections(log: PreambleLog, context: Mapping[str, Any]) -> list[str]:
    lines = []
    earlier = log.earlier_line()
    if earlier:
        lines.append(earlier)
    for entry in log.recent:
        outcome = entry.outcome
        lines.append(f"## Stage: {entry.node.id}")
        lines.append(f"status: {outcome.get('status', 'unknown')}")
        if outcome.get("notes"):
            lines.append(f"notes: {outcome['notes']}")
        failure = outcome.get("failure") or {}
        if failure.get("message"):
            lines.append(f"failure: {failure['message']}")
        response = context.get(f"response.{entry.node.id}")
        if response:
            lines.append(_text(response, 4000))
    return lines


def _context_lines(keys: RecentKeys, context: Mapping[str, Any], limit: int) -> list[str]:
    shown = [f"- {key}: {_text(context[key], limit)}" for key in keys if key in context]
    if not shown:
        return []
    if keys.trimmed:
        shown.append(f"(the {PREAMBLE_CONTEXT_KEYS} most recently set keys)")
    return ["## Context", *shown]


def _parallel_section(context: Mapping[str, Any]) -> list[str]:
    results = context.get("parallel.results")
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
    context = state.context
    goal = context.get("graph.goal") or graph.goal
    if fidelity == "truncate":
        return f"Goal: {goal}\nRun ID: {context.get('internal.run_id', '')}"
    if state.preamble_log is None:
        state.preamble_log = PreambleLog()
    log = state.preamble_log
    log.follow(graph, state)
    lines = [f"Goal: {goal}"]
    if fidelity == "summary:high":
        lines += _high_sections(log, context)
        lines += _context_lines(log.keys, context, 4000) or ["## Context"]
    else:
        lines += _stage_lines(log, state, graph, detailed=fidelity != "summary:low")
        if fidelity in ("compact", "summary:medium"):
            lines += _context_lines(log.compact_keys, context, 500)
        if fidelity == "summary:medium" and context.get("last_response"):
            lines += ["## Previous response", _text(context["last_response"], 2000)]
    lines += _parallel_section(context)
    parent = context.get("internal.parent_preamble")
    if parent:
        return "\n".join(
            ["## Parent workflow context", str(parent), "## Current sub-workflow", *lines]
        )
    return "\n".join(lines)
