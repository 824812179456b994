"""Normalized DOT and the Graphviz runner (api.md §6.11)."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from fabro.workflow.errors import (
    DotFailedError,
    DotNotAvailableError,
    DotTimeoutError,
    GraphvizError,
)
from fabro.workflow.parser import parse_graph
from fabro.workflow.render import normalized_dot, quote, render

SOURCE = """digraph Flow {
  graph [label="My \\"Flow\\"", rankdir=LR, goal="not drawn", model_stylesheet="* {}"]
  start [shape=Mdiamond]
  plan [label="Plan\\nit", llm_model=gpt-5.2, style="rounded", tooltip="t", human.default_choice=x]
  subgraph cluster_impl {
    label="Impl"
    build [shape=parallelogram, script="make"]
    subgraph { label="Inner"; test }
  }
  subgraph plain { lint }
  exit [shape=Msquare]
  start -> plan [weight=3]
  plan -> build [condition="outcome=success", color=red]
  build -> test [label="go"]
  test -> lint -> exit
}"""


def test_normalized_dot() -> None:
    assert normalized_dot(parse_graph(SOURCE)) == (
        'digraph "Flow" {\n'
        '  graph [rankdir="LR", label="My \\"Flow\\""];\n'
        '  "start" [shape="Mdiamond", label="start"];\n'
        '  "plan" [shape="box", label="Plan\\nit", style="rounded", tooltip="t"];\n'
        '  "lint" [shape="box", label="lint"];\n'
        '  "exit" [shape="Msquare", label="exit"];\n'
        '  subgraph "cluster_0" {\n'
        '    label="Impl";\n'
        '    "build" [shape="parallelogram", label="build"];\n'
        '    subgraph "cluster_1" {\n'
        '      label="Inner";\n'
        '      "test" [shape="box", label="test"];\n'
        "    }\n"
        "  }\n"
        '  "start" -> "plan";\n'
        '  "plan" -> "build" [label="outcome=success", color="red"];\n'
        '  "build" -> "test" [label="go"];\n'
        '  "test" -> "lint";\n'
        '  "lint" -> "exit";\n'
        "}\n"
    )


def test_status_colours() -> None:
    graph = parse_graph(
        'digraph G { a [style="rounded,filled"]; b; c; d; e; a -> b -> c -> d -> e }'
    )
    dot = normalized_dot(graph, {"a": "completed", "b": "running", "c": "failed", "d": "cancelled"})
    lines = {line.split()[0]: line for line in dot.splitlines() if "[shape" in line}
    expected = {
        '"a"': ("rounded,filled", "#d1fadf", "#12b76a"),
        '"b"': ("filled,bold", "#fef0c7", "#f79009"),
        '"c"': ("filled", "#fee4e2", "#f04438"),
        '"d"': ("filled", "#fee4e2", "#f04438"),
        '"e"': ("filled", "#f2f4f7", "#98a2b3"),
    }
    for node, (style, fill, color) in expected.items():
        assert f'style="{style}"' in lines[node]
        assert f'fillcolor="{fill}"' in lines[node]
        assert f'color="{color}"' in lines[node]
    assert "fillcolor" not in normalized_dot(graph)


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("a", '"a"'),
        ('say "x"', '"say \\"x\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("a\nb", '"a\\nb"'),
    ],
)
def test_quote(text: str, quoted: str) -> None:
    assert quote(text) == quoted


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
@pytest.mark.parametrize(("fmt", "magic"), [("svg", b"<?xml"), ("png", b"\x89PNG")])
def test_render_real_dot(fmt: str, magic: bytes) -> None:
    image = render(normalized_dot(parse_graph(SOURCE)), fmt)
    assert image.startswith(magic)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_render_reports_dot_failure() -> None:
    with pytest.raises(DotFailedError) as info:
        render("digraph {", "svg")
    assert info.value.detail.startswith("dot failed: ")
    assert info.value.status == 502


def test_render_without_dot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(DotNotAvailableError) as info:
        render("digraph G {}", "svg")
    assert info.value.detail == "Graphviz dot command not available."


def test_render_timeout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    slow = tmp_path / "dot"
    slow.write_text("#!/bin/sh\nexec /bin/sleep 5\n")
    slow.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DotTimeoutError) as info:
        render("digraph G {}", "svg", timeout_s=0.2)
    assert info.value.detail == "Graphviz dot timed out after 0.2s."
    assert isinstance(info.value, GraphvizError)
    assert DotTimeoutError(10).detail == "Graphviz dot timed out after 10s."


def test_render_unstartable_dot(monkeypatch: pytest.MonkeyPatch) -> None:
    def cannot_start(*args: object, **kwargs: object) -> None:
        raise OSError("exec format error")

    monkeypatch.setattr(shutil, "which", lambda name: "/bin/dot")
    monkeypatch.setattr(subprocess, "run", cannot_start)
    with pytest.raises(DotNotAvailableError):
        render("digraph G {}", "svg")


def test_a_fontname_that_is_not_a_font_list_is_left_out() -> None:
    # Graphviz copies fontname into the SVG's font-family attribute unescaped.
    hostile = r"x\" onload=\"alert(1)"
    graph = parse_graph(
        f'digraph G {{ graph [fontname="{hostile}"]; a [fontname="{hostile}"];'
        f' b [fontname="Helvetica, Arial"]; a -> b [label="L", fontname="{hostile}"] }}'
    )
    dot = normalized_dot(graph)
    assert "onload" not in dot
    assert 'fontname="Helvetica, Arial"' in dot
    if shutil.which("dot"):
        assert b"onload" not in render(dot, "svg")


def test_a_control_character_in_a_label_leaves_the_svg_readable() -> None:
    # Graphviz copies control characters into its SVG as they are: XML cannot hold them.
    graph = parse_graph('digraph G { start [shape=Mdiamond]; a [label="x\x01y\x1bz"]; start -> a }')
    svg = render(normalized_dot(graph), "svg")
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "xyz" in texts
