"""The syntax tree the parser produces and the graph builder consumes (workflow-language.md §3)."""

from __future__ import annotations

from dataclasses import dataclass

from fabro.workflow.value import Value

Attrs = list[tuple[str, Value]]


@dataclass(slots=True)
class AttrStmt:
    """`graph [..]`, `node [..]` or `edge [..]`."""

    target: str
    attrs: Attrs


@dataclass(slots=True)
class Decl:
    """`key = value` written as a statement."""

    key: str
    value: Value


@dataclass(slots=True)
class NodeStmt:
    """A node statement `id [attrs]`."""

    node_id: str
    attrs: Attrs
    line: int
    col: int


@dataclass(slots=True)
class EdgeStmt:
    """An edge chain `a -> b -> c [attrs]`; `ends` holds (id, line, col) per named node."""

    ends: list[tuple[str, int, int]]
    attrs: Attrs


@dataclass(slots=True)
class SubgraphStmt:
    """`subgraph [name] { ... }`."""

    name: str | None
    body: list[Stmt]


Stmt = AttrStmt | Decl | NodeStmt | EdgeStmt | SubgraphStmt


@dataclass(slots=True)
class Document:
    """A whole file: `digraph name { body }`."""

    name: str
    body: list[Stmt]
