"""Build the graph model from the syntax tree (workflow-language.md §4).

Statements are processed in order with a scope holding the node defaults, the edge defaults and
the subgraph class. A subgraph first merges every `node [..]` / `edge [..]` written directly in
it (so they apply to statements above them too), then processes its statements.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fabro.workflow.kinds import CODERGEN_MODES
from fabro.workflow.model import Attrs, Edge, Graph, Node, Subgraph
from fabro.workflow.syntax import (
    AttrStmt,
    Decl,
    Document,
    EdgeStmt,
    NodeStmt,
    Stmt,
    SubgraphStmt,
)
from fabro.workflow.value import Value

_CLASS_DROP = re.compile(r"[^a-z0-9-]")
_CLASS_SPLIT = re.compile(r"[,\s]+")


@dataclass(slots=True)
class _Scope:
    node_defaults: Attrs
    edge_defaults: Attrs
    cls: str | None  # class contributed by the innermost subgraph, if it has a label
    subgraph: int | None  # index in Graph.subgraphs


def build_graph(document: Document) -> Graph:
    """The graph model of a parsed document."""
    builder = _Builder(Graph(document.name))
    builder.statements(document.body, _Scope({}, {}, None, None))
    return builder.finish()


def subgraph_class(label: str) -> str:
    """`"Loop A"` -> `loop-a`: lowercase, spaces to `-`, drop characters outside [a-z0-9-]."""
    return _CLASS_DROP.sub("", label.lower().replace(" ", "-"))


class _Builder:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.subgraph_classes: dict[str, list[str]] = {}

    def statements(self, body: list[Stmt], scope: _Scope) -> None:
        nested = scope.subgraph is not None
        for stmt in body:
            if isinstance(stmt, NodeStmt):
                node = self._node(stmt.node_id, stmt.line, stmt.col, scope)
                node.attrs.update(stmt.attrs)
            elif isinstance(stmt, EdgeStmt):
                self._edges(stmt, scope)
            elif isinstance(stmt, AttrStmt):
                if stmt.target == "graph":
                    self._set_graph_attrs(stmt.attrs, scope)
                elif not nested:  # inside a subgraph these were merged up front
                    defaults = scope.node_defaults if stmt.target == "node" else scope.edge_defaults
                    defaults.update(stmt.attrs)
            elif isinstance(stmt, Decl):
                self._set_graph_attrs([(stmt.key, stmt.value)], scope)
            else:
                self._subgraph(stmt, scope)

    def _set_graph_attrs(self, attrs: list[tuple[str, Value]], scope: _Scope) -> None:
        # fabro fix: inside a subgraph these set the subgraph's attributes only.
        if scope.subgraph is None:
            self.graph.attrs.update(attrs)
        else:
            self.graph.subgraphs[scope.subgraph].attrs.update(attrs)

    def _subgraph(self, stmt: SubgraphStmt, outer: _Scope) -> None:
        node_defaults = dict(outer.node_defaults)
        edge_defaults = dict(outer.edge_defaults)
        label: str | None = None
        for inner in stmt.body:
            if isinstance(inner, AttrStmt):
                if inner.target == "node":
                    node_defaults.update(inner.attrs)
                elif inner.target == "edge":
                    edge_defaults.update(inner.attrs)
                else:
                    label = _last_label(inner.attrs, label)
            elif isinstance(inner, Decl) and inner.key == "label":
                label = inner.value.text
        index = len(self.graph.subgraphs)
        self.graph.subgraphs.append(Subgraph(stmt.name, parent=outer.subgraph))
        cls = subgraph_class(label) if label is not None else None
        self.statements(stmt.body, _Scope(node_defaults, edge_defaults, cls or None, index))

    def _node(self, node_id: str, line: int, col: int, scope: _Scope) -> Node:
        node = self.graph.nodes.get(node_id)
        if node is None:
            node = Node(node_id, dict(scope.node_defaults), line=line, col=col)
            self.graph.nodes[node_id] = node
        if scope.cls is not None:
            self.subgraph_classes.setdefault(node_id, []).append(scope.cls)
        if scope.subgraph is not None:
            members = self.graph.subgraphs[scope.subgraph].node_ids
            if node_id not in members:
                members.append(node_id)
        return node

    def _edges(self, stmt: EdgeStmt, scope: _Scope) -> None:
        for node_id, line, col in stmt.ends:
            self._node(node_id, line, col, scope)
        for (source, line, col), (target, _, _) in zip(stmt.ends, stmt.ends[1:], strict=False):
            attrs = dict(scope.edge_defaults)
            attrs.update(stmt.attrs)
            self.graph.edges.append(Edge(source, target, attrs, line, col))

    def finish(self) -> Graph:
        for node in self.graph.nodes.values():
            _apply_legacy_type(node)
            node.classes = _classes(self.subgraph_classes.get(node.id, []), node.get("class"))
        return self.graph


def _last_label(attrs: list[tuple[str, Value]], current: str | None) -> str | None:
    for key, value in attrs:
        if key == "label":
            current = value.text
    return current


def _classes(from_subgraphs: list[str], class_attr: str | None) -> list[str]:
    """Subgraph classes, then the `class` attribute split on commas and whitespace, deduped."""
    parts = list(from_subgraphs)
    if class_attr:
        parts.extend(part for part in _CLASS_SPLIT.split(class_attr) if part)
    return list(dict.fromkeys(parts))


def _apply_legacy_type(node: Node) -> None:
    """`codergen_mode` stands for `type` when no type is given (§4, legacy aliases)."""
    mode = node.attrs.get("codergen_mode")
    if mode is not None and "type" not in node.attrs:
        node.attrs["type"] = Value(
            "string", CODERGEN_MODES.get(mode.text, mode.text), mode.line, mode.col
        )
