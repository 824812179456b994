"""Rendering with Graphviz (api.md §6.11).

`normalized_dot` rebuilds DOT that Graphviz accepts from the graph model (qualified keys and
values such as `gpt-5.2` are not Graphviz syntax), keeping only display attributes and,
optionally, colouring nodes by stage status. `render` pipes DOT through `dot` with a time limit.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from typing import Final

from fabro.workflow.errors import DotFailedError, DotNotAvailableError, DotTimeoutError
from fabro.workflow.model import Graph, Node

FORMATS: Final = ("svg", "png")  # what the API renders
FILE_FORMATS: Final = (*FORMATS, "pdf")  # what `fabro graph` writes
GRAPH_KEYS: Final = ("rankdir", "label", "fontname", "fontsize", "nodesep", "ranksep", "splines")
NODE_KEYS: Final = (
    "color",
    "fillcolor",
    "fontcolor",
    "fontname",
    "fontsize",
    "style",
    "penwidth",
    "margin",
    "width",
    "height",
    "peripheries",
    "tooltip",
)
EDGE_KEYS: Final = (
    "color",
    "fontcolor",
    "fontname",
    "fontsize",
    "style",
    "penwidth",
    "arrowhead",
    "constraint",
)
# Stage status -> (style entries, fillcolor, color); unknown statuses look like `pending`.
STATUS_STYLES: Final[dict[str, tuple[tuple[str, ...], str, str]]] = {
    "completed": (("filled",), "#d1fadf", "#12b76a"),
    "running": (("filled", "bold"), "#fef0c7", "#f79009"),
    "failed": (("filled",), "#fee4e2", "#f04438"),
    "cancelled": (("filled",), "#fee4e2", "#f04438"),
    "pending": (("filled",), "#f2f4f7", "#98a2b3"),
}


# Graphviz (2.43) copies `fontname` into the SVG's font-family attribute without escaping it:
# `fontname="x\" onload=\"..."` would add an attribute. Only plain font lists pass.
_FONT_NAME = re.compile(r"[A-Za-z0-9 ,._+-]{1,100}")


def _display(key: str, text: str | None) -> str | None:
    """``text`` when Graphviz may be given it for ``key``, else None (the key is left out)."""
    if text is not None and key == "fontname" and not _FONT_NAME.fullmatch(text):
        return None
    return text


# Control characters XML 1.0 cannot hold: Graphviz copies them into its SVG as they are, which
# makes the document unreadable (no byte below 0x20 occurs inside a multi-byte character).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def xml_safe(text: str) -> str:
    """``text`` without the control characters an XML document cannot hold."""
    return _NOT_XML.sub("", text)


def quote(text: str) -> str:
    """A DOT double-quoted string: `"` and `\\` escaped, newlines written as `\\n`, and no
    control character an SVG could not hold."""
    escaped = xml_safe(text).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r\n", "\\n").replace("\n", "\\n") + '"'


def _attr_list(pairs: list[tuple[str, str]]) -> str:
    return "[" + ", ".join(f"{key}={quote(value)}" for key, value in pairs) + "]"


def _node_line(node: Node, stage_status: Mapping[str, str] | None) -> str:
    pairs = [("shape", node.shape), ("label", node.label)]
    own = {key: _display(key, node.get(key)) for key in NODE_KEYS}
    if stage_status is not None:
        entries, fill, color = STATUS_STYLES.get(
            stage_status.get(node.id, "pending"), STATUS_STYLES["pending"]
        )
        style = [part.strip() for part in (own["style"] or "").split(",") if part.strip()]
        own["style"] = ",".join(dict.fromkeys([*style, *entries]))
        own["fillcolor"] = fill
        own["color"] = color
    pairs.extend((key, value) for key, value in own.items() if value is not None)
    return f"{quote(node.id)} {_attr_list(pairs)};"


def _cluster_owner(graph: Graph) -> dict[str, int]:
    """The labeled subgraph each node is drawn in: its innermost labeled enclosing subgraph."""
    labeled: list[int | None] = []
    depth: list[int] = []
    for sub in graph.subgraphs:  # parents come before their children
        parent = sub.parent
        inherited = labeled[parent] if parent is not None else None
        labeled.append(len(labeled) if sub.label is not None else inherited)
        depth.append(depth[parent] + 1 if parent is not None else 0)
    owner: dict[str, int] = {}
    for index, sub in enumerate(graph.subgraphs):
        cluster = labeled[index]
        if cluster is None:
            continue
        for node_id in sub.node_ids:
            current = owner.get(node_id)
            if current is None or depth[cluster] > depth[current]:
                owner[node_id] = cluster
    return owner


def normalized_dot(graph: Graph, stage_status: Mapping[str, str] | None = None) -> str:
    """Graphviz-safe DOT for `graph`; with `stage_status` (node id -> status) nodes are coloured."""
    lines = [f"digraph {quote(graph.name)} {{"]
    graph_pairs = [
        (key, text) for key in GRAPH_KEYS if (text := _display(key, graph.get(key))) is not None
    ]
    if graph_pairs:
        lines.append(f"  graph {_attr_list(graph_pairs)};")
    owner = _cluster_owner(graph)
    members: dict[int, list[Node]] = {}
    for node in graph.nodes.values():
        cluster = owner.get(node.id)
        if cluster is None:
            lines.append("  " + _node_line(node, stage_status))
        else:
            members.setdefault(cluster, []).append(node)
    children: dict[int | None, list[int]] = {}
    for index, sub in enumerate(graph.subgraphs):
        if sub.label is not None:
            parent = sub.parent
            while parent is not None and graph.subgraphs[parent].label is None:
                parent = graph.subgraphs[parent].parent
            children.setdefault(parent, []).append(index)

    def emit_cluster(index: int, indent: str) -> None:
        label = graph.subgraphs[index].label or ""
        lines.append(f"{indent}subgraph {quote(f'cluster_{index}')} {{")
        lines.append(f"{indent}  label={quote(label)};")
        for node in members.get(index, []):
            lines.append(f"{indent}  {_node_line(node, stage_status)}")
        for child in children.get(index, []):
            emit_cluster(child, indent + "  ")
        lines.append(f"{indent}}}")

    for index in children.get(None, []):
        emit_cluster(index, "  ")
    for edge in graph.edges:
        pairs = []
        label = edge.label or edge.get("condition")
        if label:
            pairs.append(("label", label))
        pairs.extend(
            (key, text) for key in EDGE_KEYS if (text := _display(key, edge.get(key))) is not None
        )
        attrs = f" {_attr_list(pairs)}" if pairs else ""
        lines.append(f"  {quote(edge.source)} -> {quote(edge.target)}{attrs};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(dot_text: str, fmt: str, timeout_s: float = 10) -> bytes:
    """Run `dot -T<fmt>` on `dot_text`; raises a GraphvizError subclass on any problem."""
    if fmt not in FILE_FORMATS:
        raise ValueError(f"unsupported format {fmt!r}")
    program = shutil.which("dot")
    if program is None:
        raise DotNotAvailableError()
    try:
        result = subprocess.run(
            [program, f"-T{fmt}"],
            input=dot_text.encode("utf-8"),
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise DotTimeoutError(timeout_s) from None
    except OSError:
        raise DotNotAvailableError() from None
    if result.returncode != 0:
        raise DotFailedError(result.stderr.decode("utf-8", errors="replace"))
    return result.stdout
