"""Validation rules about what a node or edge says (fabro's rules 25-27 of §11).

Names that the engine would silently ignore or misread: a command with nothing to run, an
attribute fabro does not know (usually a typo), a shape that maps to no node kind.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from fabro.workflow import kinds
from fabro.workflow.attributes import (
    EDGE_ATTRIBUTES,
    GRAPH_ATTRIBUTES,
    GRAPHVIZ_ATTRIBUTES,
    NODE_ATTRIBUTES,
    SECRET_NAME,
    secret_names,
)
from fabro.workflow.diagnostics import ERROR, WARNING, Diagnostic
from fabro.workflow.value import Value

if TYPE_CHECKING:
    from fabro.workflow.validate import Subject

Diagnostics = Iterator[Diagnostic]


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`; did you mean 'x'?` for the closest known word, or `` when none is close."""
    close = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.7)
    return f"; did you mean '{close[0]}'?" if close else ""


# 25
def script_on_command_nodes(s: Subject) -> Diagnostics:
    """A command stage has a script (else it fails at run time: `No script specified`)."""
    for node in s.graph.nodes.values():
        if node.kind == kinds.COMMAND and not (node.script or "").strip():
            message = f"Command node '{node.id}' has no script attribute"
            yield Diagnostic("script_on_command_nodes", ERROR, message, node_id=node.id)


# 26
def attribute_known(s: Subject) -> Diagnostics:
    """Attribute names are fabro's or Graphviz's; anything else is ignored, often a typo.

    A name set by a `node [...]` or `edge [...]` default is reported once, at its first use.
    """
    graph = s.graph
    for name in _unknown(graph.attrs, GRAPH_ATTRIBUTES, set()):
        message = f"Graph has unknown attribute '{name}'{did_you_mean(name, GRAPH_ATTRIBUTES)}"
        yield Diagnostic("attribute_known", WARNING, message)
    seen: set[tuple[str, int, int]] = set()
    for node in graph.nodes.values():
        for name in _unknown(node.attrs, NODE_ATTRIBUTES, seen):
            hint = did_you_mean(name, NODE_ATTRIBUTES)
            message = f"Node '{node.id}' has unknown attribute '{name}'{hint}"
            yield Diagnostic("attribute_known", WARNING, message, node_id=node.id)
    seen = set()
    for edge in graph.edges:
        for name in _unknown(edge.attrs, EDGE_ATTRIBUTES, seen):
            hint = did_you_mean(name, EDGE_ATTRIBUTES)
            message = f"Edge {edge.describe()} has unknown attribute '{name}'{hint}"
            yield Diagnostic("attribute_known", WARNING, message, edge=(edge.source, edge.target))


def _unknown(
    attrs: Mapping[str, Value], known: Mapping[str, object], seen: set[tuple[str, int, int]]
) -> Iterator[str]:
    """Unknown names of ``attrs`` not reported yet (a default's copies share its position)."""
    for name, value in attrs.items():
        if name in known or name in GRAPHVIZ_ATTRIBUTES:
            continue
        where = (name, value.line, value.col)
        if value.line and where in seen:  # line 0: made in code, not copied from a default
            continue
        seen.add(where)
        yield name


# 27
def shape_known(s: Subject) -> Diagnostics:
    """A shape that names no node kind runs as an agent stage; say so (§5)."""
    for node in s.graph.nodes.values():
        shape = node.get("shape")
        if shape is None or shape in kinds.SHAPE_KINDS or node.type is not None:
            continue  # without a shape the node is a box; an explicit type decides the kind
        if node.is_terminal or node.id in kinds.START_IDS:
            continue  # the id decides the kind; the shape only styles it
        message = (
            f"Node '{node.id}' has shape '{shape}', which is not a fabro node kind, so it runs "
            f"as an agent stage{did_you_mean(shape, kinds.SHAPE_KINDS)}"
        )
        yield Diagnostic("shape_known", WARNING, message, node_id=node.id)


# 28
def secret_names_valid(s: Subject) -> Diagnostics:
    """Each name of a `secrets` attribute is a secret's name (an environment variable's:
    letters, digits and `_`, not starting with a digit, at most 128), else no stage could
    ever receive it."""
    graph = s.graph
    for name in secret_names(graph.get("secrets")):
        if not SECRET_NAME.fullmatch(name):
            yield Diagnostic("secret_names_valid", ERROR, f"Graph {_bad_secret(name)}")
    for node in graph.nodes.values():
        for name in secret_names(node.get("secrets")):
            if not SECRET_NAME.fullmatch(name):
                message = f"Node '{node.id}' {_bad_secret(name)}"
                yield Diagnostic("secret_names_valid", ERROR, message, node_id=node.id)


def _bad_secret(name: str) -> str:
    return (
        f"names secret '{name}', which is not a valid secret name (letters, digits and _, "
        "not starting with a digit, at most 128 characters)"
    )
