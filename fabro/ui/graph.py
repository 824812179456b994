"""A workflow's graph as inline SVG for the UI: drawn by Graphviz, coloured by stylesheet.

The SVG is the output of the real `dot` (as `GET /runs/{id}/graph` renders it), parsed and
written back out by ElementTree, so every label in it is escaped text whatever Graphviz let
through. On the way it keeps only the drawing elements Graphviz uses, drops every `style`,
`on...` and link attribute (the page's CSP forbids inline style; nothing from a workflow may
link anywhere), and gives each node its stage status as a class (`stage-completed`), as
words in its `<title>` and as a link to the stage's details.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass

from fabro.ui.templating import status_label
from fabro.workflow import render
from fabro.workflow.errors import DotFailedError
from fabro.workflow.model import Graph

SVG = "http://www.w3.org/2000/svg"
XLINK = "http://www.w3.org/1999/xlink"
ET.register_namespace("", SVG)
ET.register_namespace("xlink", XLINK)

# What Graphviz draws with; anything else (images, foreign objects, scripts) is dropped.
DRAWING = frozenset({"svg", "g", "title", "polygon", "polyline", "ellipse", "path", "text"})
# Wrappers Graphviz adds for URL and tooltip attributes: replaced by their children.
UNWRAP = frozenset({"a"})
PENDING = "pending"
DRAWINGS_KEPT = 64  # distinct graphs whose SVG is kept
CACHED_DOT_CHARS = 32 * 1024  # larger graphs are drawn every time (their SVG is large too)


@dataclass(frozen=True)
class NodeState:
    """How one node shows: its latest stage's status and where that stage's details are."""

    status: str = PENDING
    href: str | None = None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _clean_attributes(element: ET.Element) -> None:
    for name in list(element.attrib):
        local = _local(name).lower()
        if (
            local == "style"
            or local.startswith("on")
            or local == "href"
            or name.startswith(f"{{{XLINK}}}")
        ):
            del element.attrib[name]


def _sanitize(parent: ET.Element) -> None:
    """Keep Graphviz's drawing elements only, unwrapping its links, with clean attributes."""
    _clean_attributes(parent)
    index = 0
    while index < len(parent):
        child = parent[index]
        name = _local(child.tag)
        if name in UNWRAP:
            parent.remove(child)
            for offset, grandchild in enumerate(list(child)):
                parent.insert(index + offset, grandchild)
            continue  # the unwrapped children are looked at in their turn
        if name not in DRAWING:
            parent.remove(child)
            continue
        _sanitize(child)
        index += 1


def _mark_node(group: ET.Element, node_id: str, label: str, state: NodeState) -> None:
    """Status class, status words in the title, and a link wrapping the drawing."""
    group.set("class", f"node stage stage-{state.status}")
    group.set("data-node-id", node_id)
    group.set("data-status", state.status)
    title = group.find(f"{{{SVG}}}title")
    if title is None:
        title = ET.Element(f"{{{SVG}}}title")
    else:
        group.remove(title)
    title.text = render.xml_safe(f"{label}: {status_label(state.status)}")
    link = ET.Element(f"{{{SVG}}}a", {"class": "stage-link"})
    if state.href is not None:
        link.set("href", state.href)
    link.append(title)
    for child in list(group):
        group.remove(child)
        link.append(child)
    group.append(link)


def decorate(svg: bytes, graph: Graph, states: Mapping[str, NodeState]) -> str:
    """Graphviz's SVG, sanitised, with every node of ``graph`` marked by its state.

    Raises DotFailedError when the SVG cannot be read as XML.
    """
    try:
        root = ET.fromstring(svg)  # expat reads no external DTD, expands no external entity
    except ET.ParseError as exc:
        raise DotFailedError(f"its SVG is not well-formed XML ({exc})") from None
    _sanitize(root)
    root.set("class", "graph-svg")
    root.set("role", "group")
    root.set("aria-label", render.xml_safe(f"Graph of {graph.name}"))
    for group in root.iter(f"{{{SVG}}}g"):
        if "node" not in (group.get("class") or "").split():
            continue
        title = group.find(f"{{{SVG}}}title")
        node = graph.nodes.get(title.text or "") if title is not None else None
        if node is not None:
            _mark_node(group, node.id, node.label, states.get(node.id, NodeState()))
    return ET.tostring(root, encoding="unicode")


def graph_svg(graph: Graph, states: Mapping[str, NodeState], timeout_s: float) -> str:
    """The graph drawn by `dot` and marked by ``states``: blocking, run it in a thread.

    Raises GraphvizError (a 502 with the reason) when `dot` is missing, fails or is slow, or
    writes what cannot be read.
    """
    image = draw(render.normalized_dot(graph), timeout_s)
    return decorate(image, graph, states)


def draw(dot: str, timeout_s: float) -> bytes:
    """`dot -Tsvg` of ``dot``; the drawings of graphs up to CACHED_DOT_CHARS are remembered.

    A run's graph never changes, only its colours (classes added afterwards), so a page shown
    again needs no new `dot` process. At most DRAWINGS_KEPT small graphs are kept, which
    bounds the memory; failures are not remembered.
    """
    if len(dot) <= CACHED_DOT_CHARS:
        return draw_cached(dot, timeout_s)
    return render.render(dot, "svg", timeout_s)


@functools.lru_cache(maxsize=DRAWINGS_KEPT)
def draw_cached(dot: str, timeout_s: float) -> bytes:
    return render.render(dot, "svg", timeout_s)
