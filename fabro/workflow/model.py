"""The graph model (workflow-language.md §4-§6) with typed accessors for every known attribute.

Raw attributes are kept as `Value`s so validation can report what was written; the accessors
convert them (§6.1) and fall back to the documented default when an attribute is absent or
does not convert (validation reports the latter as `attribute_type`, so a stored, validated
graph never hits that fallback). `Graph.to_json` / `Graph.from_json` round-trip exactly: the
server stores the prepared graph and the engine executes the stored copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fabro.workflow.attributes import secret_names, to_int
from fabro.workflow.node import Node
from fabro.workflow.value import JSON, Attributed, Attrs, Value, attrs_from_json, attrs_json

__all__ = ["Attrs", "Edge", "Graph", "Node", "Subgraph", "Value"]


@dataclass(eq=True)
class Edge(Attributed):
    """A transition `source -> target`; edges are kept in source order, duplicates allowed."""

    source: str
    target: str
    attrs: Attrs = field(default_factory=dict)
    line: int = 0
    col: int = 0

    @property
    def label(self) -> str | None:
        """Display text, matched by `preferred_label`; None when absent."""
        return self.get("label")

    @property
    def condition(self) -> str:
        """Condition text (§7); empty means unconditional."""
        return (self.get("condition") or "").strip()

    @property
    def is_conditional(self) -> bool:
        """Has a non-empty condition."""
        return self.condition != ""

    @property
    def weight(self) -> int:
        """Tie-break priority, higher wins; default 0."""
        return self._int("weight", 0)

    @property
    def fidelity(self) -> str | None:
        """Fidelity for the transition into the target."""
        return self._text("fidelity")

    @property
    def thread_id(self) -> str | None:
        """Thread id applied when the target node has none."""
        return self._text("thread_id")

    @property
    def loop_restart(self) -> bool:
        """Restart the run from the target (§12.6)."""
        return self._bool("loop_restart", False)

    @property
    def freeform(self) -> bool:
        """The human-gate edge taken for free-text answers."""
        return self._bool("freeform", False)

    def describe(self) -> str:
        """`A -> B`, as diagnostics name edges."""
        return f"{self.source} -> {self.target}"

    def to_json(self) -> JSON:
        """Serializable form."""
        return {
            "from": self.source,
            "to": self.target,
            "attrs": attrs_json(self.attrs),
            "line": self.line,
            "col": self.col,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Edge:
        """Inverse of `to_json`."""
        return cls(
            source=data["from"],
            target=data["to"],
            attrs=attrs_from_json(data["attrs"]),
            line=data["line"],
            col=data["col"],
        )


@dataclass(eq=True)
class Subgraph(Attributed):
    """A subgraph, kept for rendering clusters: its own attributes and the nodes it names."""

    name: str | None
    attrs: Attrs = field(default_factory=dict)
    node_ids: list[str] = field(default_factory=list)
    parent: int | None = None

    @property
    def label(self) -> str | None:
        """The subgraph's label, if any."""
        return self._text("label")

    def to_json(self) -> JSON:
        """Serializable form."""
        return {
            "name": self.name,
            "attrs": attrs_json(self.attrs),
            "node_ids": list(self.node_ids),
            "parent": self.parent,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Subgraph:
        """Inverse of `to_json`."""
        return cls(
            name=data["name"],
            attrs=attrs_from_json(data["attrs"]),
            node_ids=list(data["node_ids"]),
            parent=data["parent"],
        )


@dataclass(eq=True)
class Graph(Attributed):
    """A workflow: graph attributes, nodes in order of first appearance, edges in source order."""

    name: str
    attrs: Attrs = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    subgraphs: list[Subgraph] = field(default_factory=list)

    @property
    def goal(self) -> str:
        """The run's goal (after the override and expansion); default `""`."""
        return self.get("goal") or ""

    @property
    def label(self) -> str | None:
        """Display name."""
        return self._text("label")

    @property
    def rankdir(self) -> str | None:
        """Rendering direction."""
        return self._text("rankdir")

    @property
    def model_stylesheet(self) -> str | None:
        """The stylesheet text (§8)."""
        return self._text("model_stylesheet")

    @property
    def default_max_retries(self) -> int:
        """`default_max_retry`: retries when a node sets no `max_retries`; default 3."""
        return self._int("default_max_retry", 3, 0)

    @property
    def retry_target(self) -> str | None:
        """Graph-level retry target."""
        return self._text("retry_target")

    @property
    def fallback_retry_target(self) -> str | None:
        """Graph-level fallback retry target."""
        return self._text("fallback_retry_target")

    @property
    def default_fidelity(self) -> str:
        """Default fidelity mode; `compact`."""
        return self._text("default_fidelity") or "compact"

    @property
    def default_thread(self) -> str | None:
        """Default thread id."""
        return self._text("default_thread")

    @property
    def max_node_visits(self) -> int | None:
        """Graph visit limit; None when unset (the engine uses 10 with the simulated backend)."""
        value = self.attrs.get("max_node_visits")
        return None if value is None else to_int(value, 0)

    @property
    def stall_timeout_ms(self) -> int:
        """Stall watchdog limit; default 1800 s, 0 disables."""
        stall = self._duration_ms("stall_timeout")
        return 1_800_000 if stall is None else stall

    @property
    def loop_restart_signature_limit(self) -> int:
        """Circuit breaker limit (§12.7); default 3."""
        return self._int("loop_restart_signature_limit", 3, 1)

    @property
    def default_model(self) -> str | None:
        """Last-resort model."""
        return self._text("default_model")

    @property
    def default_provider(self) -> str | None:
        """Last-resort provider."""
        return self._text("default_provider")

    @property
    def secrets(self) -> list[str]:
        """fabro: the secrets every command and agent stage receives (`secrets="A, B"`)."""
        return secret_names(self.get("secrets"))

    def secrets_for(self, node: Node) -> list[str]:
        """The secrets ``node`` receives: the graph's, then its own."""
        return list(dict.fromkeys([*self.secrets, *node.secrets]))

    def max_retries_for(self, node: Node) -> int:
        """The node's `max_retries`, else the graph's `default_max_retry`."""
        retries = node.max_retries
        return self.default_max_retries if retries is None else retries

    def context_attrs(self) -> dict[str, str]:
        """The `graph.<key>` context entries (§6.2): every graph attribute's text."""
        return {f"graph.{key}": value.text for key, value in self.attrs.items()}

    # --- structure ---
    def start_node(self) -> Node | None:
        """The run-time start node: first Mdiamond, else `start`, else `Start`."""
        for node in self.nodes.values():
            if node.shape == "Mdiamond":
                return node
        return self.nodes.get("start") or self.nodes.get("Start")

    def terminal_nodes(self) -> list[Node]:
        """Terminal nodes in node order."""
        return [node for node in self.nodes.values() if node.is_terminal]

    def outgoing(self, node_id: str) -> list[Edge]:
        """Edges leaving `node_id`, in source order."""
        return self._adjacency()[0].get(node_id, [])

    def incoming(self, node_id: str) -> list[Edge]:
        """Edges entering `node_id`, in source order."""
        return self._adjacency()[1].get(node_id, [])

    def _adjacency(self) -> tuple[dict[str, list[Edge]], dict[str, list[Edge]]]:
        # Rebuilt whenever the edge list changed size or identity; graphs are rarely mutated
        # after preparation, so this is effectively computed once.
        key = (id(self.edges), len(self.edges))
        cached = self.__dict__.get("_adj")
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        out: dict[str, list[Edge]] = {}
        inc: dict[str, list[Edge]] = {}
        for edge in self.edges:
            out.setdefault(edge.source, []).append(edge)
            inc.setdefault(edge.target, []).append(edge)
        self.__dict__["_adj"] = (key, out, inc)
        return out, inc

    def to_json(self) -> JSON:
        """Serializable form; `Graph.from_json(g.to_json()) == g`."""
        return {
            "name": self.name,
            "attrs": attrs_json(self.attrs),
            "nodes": [node.to_json() for node in self.nodes.values()],
            "edges": [edge.to_json() for edge in self.edges],
            "subgraphs": [sub.to_json() for sub in self.subgraphs],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Graph:
        """Inverse of `to_json`."""
        nodes = [Node.from_json(item) for item in data["nodes"]]
        return cls(
            name=data["name"],
            attrs=attrs_from_json(data["attrs"]),
            nodes={node.id: node for node in nodes},
            edges=[Edge.from_json(item) for item in data["edges"]],
            subgraphs=[Subgraph.from_json(item) for item in data["subgraphs"]],
        )
