"""The run page's graph: Graphviz's SVG, sanitised, each node marked with its stage status."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET

import pytest

from fabro.ui.graph import SVG, NodeState, decorate, draw_cached, graph_svg
from fabro.workflow.errors import DotFailedError
from fabro.workflow.model import Graph
from fabro.workflow.parser import parse_graph

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")

FLOW = """digraph Flow {
  start [shape=Mdiamond]
  build [shape=parallelogram, label="<script>alert(1)</script>", script="true",
         style="filled,dashed", fillcolor="red", tooltip="<b>tip</b>"]
  ship [label="Ship & tell \\"them\\""]
  exit [shape=Msquare]
  start -> build -> ship -> exit
  build -> exit [label="<img src=x onerror=alert(1)>"]
}"""


def _graph() -> Graph:
    return parse_graph(FLOW)


def _nodes(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)
    return {
        group.attrib["data-node-id"]: group
        for group in root.iter(f"{{{SVG}}}g")
        if "data-node-id" in group.attrib
    }


@needs_dot
def test_labels_stay_escaped_text() -> None:
    svg = graph_svg(_graph(), {}, timeout_s=10)
    assert "<script" not in svg and "<img" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert "&lt;img src=x onerror=alert(1)&gt;" in svg
    texts = [element.text for element in ET.fromstring(svg).iter(f"{{{SVG}}}text")]
    assert "<script>alert(1)</script>" in texts


@needs_dot
def test_no_style_attribute_or_link_from_the_workflow_survives() -> None:
    svg = graph_svg(_graph(), {"build": NodeState("failed", "/ui/runs/r/stages/build")}, 10)
    names = {name.rpartition("}")[2] for e in ET.fromstring(svg).iter() for name in e.attrib}
    assert "style" not in names and not any(name.startswith("on") for name in names)
    assert "xlink:" not in svg
    assert re.findall(r'href="([^"]*)"', svg) == ["/ui/runs/r/stages/build"]


@needs_dot
def test_node_classes_titles_and_links_follow_the_stage_statuses() -> None:
    states = {
        "start": NodeState("completed", "/ui/runs/r/stages/start"),
        "build": NodeState("running", "/ui/runs/r/stages/build"),
    }
    nodes = _nodes(graph_svg(_graph(), states, timeout_s=10))
    assert set(nodes) == {"start", "build", "ship", "exit"}
    expected = {"start": "completed", "build": "running", "ship": "pending", "exit": "pending"}
    for node_id, status in expected.items():
        group = nodes[node_id]
        assert group.attrib["class"].split() == ["node", "stage", f"stage-{status}"]
        assert group.attrib["data-status"] == status
    link = nodes["build"].find(f"{{{SVG}}}a")
    assert link is not None and link.attrib["href"] == "/ui/runs/r/stages/build"
    title = link.find(f"{{{SVG}}}title")
    assert title is not None and title.text == "<script>alert(1)</script>: Running"
    pending_link = nodes["ship"].find(f"{{{SVG}}}a")
    assert pending_link is not None and "href" not in pending_link.attrib
    ship_title = pending_link.find(f"{{{SVG}}}title")
    assert ship_title is not None and ship_title.text == 'Ship & tell "them": Pending'


def test_anything_but_graphviz_drawing_is_removed() -> None:
    """Whatever the SVG holds, only drawing elements and harmless attributes come out."""
    hostile = f"""<svg xmlns="{SVG}" xmlns:xlink="http://www.w3.org/1999/xlink" onload="x()">
<script>alert(1)</script>
<g class="node" style="fill:red"><title>a</title>
  <g id="a_node1"><a xlink:href="javascript:alert(1)" xlink:title="t">
    <polygon points="0,0 1,1" style="x" onclick="y()"/>
    <foreignObject><div>hi</div></foreignObject>
    <image xlink:href="http://evil/x.png"/>
    <text>A</text>
  </a></g>
</g></svg>"""
    graph = parse_graph("digraph G { a [label=A] }")
    out = decorate(hostile.encode(), graph, {"a": NodeState("completed", "/ui/runs/r/stages/a")})
    assert "script" not in out and "foreignObject" not in out and "image" not in out
    assert "style=" not in out and "onload" not in out and "onclick" not in out
    assert "javascript" not in out and "xlink" not in out
    node = _nodes(out)["a"]
    assert node.attrib["class"] == "node stage stage-completed"
    assert [_tag(e) for e in node.iter()] == ["g", "a", "title", "g", "polygon", "text"]


def _tag(element: ET.Element) -> str:
    return element.tag.rpartition("}")[2]


@needs_dot
def test_control_characters_in_a_label_are_dropped_not_fatal() -> None:
    graph = parse_graph('digraph G { a [label="x\x01y\x0bz\tw"] }')
    root = ET.fromstring(graph_svg(graph, {}, 10))
    assert [e.text for e in root.iter(f"{{{SVG}}}text")] == ["xyz\tw"]
    assert [e.text for e in root.iter(f"{{{SVG}}}title")] == ["G", "xyz\tw: Pending"]


def test_svg_that_is_not_xml_is_a_graphviz_error() -> None:
    with pytest.raises(DotFailedError, match="not well-formed XML"):
        decorate(b"<svg><g></svg>", parse_graph("digraph G { a }"), {})


@needs_dot
def test_a_graph_is_drawn_once_and_coloured_each_time() -> None:
    graph = _graph()
    draw_cached.cache_clear()
    first = graph_svg(graph, {"start": NodeState("running")}, 10)
    second = graph_svg(graph, {"start": NodeState("completed")}, 10)
    assert draw_cached.cache_info().hits == 1 and draw_cached.cache_info().misses == 1
    assert _nodes(first)["start"].attrib["data-status"] == "running"
    assert _nodes(second)["start"].attrib["data-status"] == "completed"
