"""Grammar (workflow-language.md §3) and graph building (§4)."""

from __future__ import annotations

import pytest

from fabro.workflow.errors import DotParseError
from fabro.workflow.model import Graph
from fabro.workflow.parser import parse_graph


def graph_of(body: str, name: str = "G") -> Graph:
    return parse_graph(f"digraph {name} {{\n{body}\n}}")


@pytest.mark.parametrize(
    "body",
    [
        "",
        "a",
        "a;",
        "a []",
        "a [x=1]",
        "a [x=1, y=2];",
        "a -> b",
        "a -> b -> c [label=x]",
        "graph [goal=g]",
        "node [shape=box]",
        "edge [weight=1]",
        "rankdir = LR",
        "subgraph { a }",
        "subgraph cluster_x { a }",
        "subgraph cluster_x { subgraph inner { a } }",
        "a; b; c",
        "graph",
        "node -> edge",
        "subgraph",
        "subgraph x",
    ],
)
def test_accepted_statements(body: str) -> None:
    graph_of(body)


@pytest.mark.parametrize(
    ("text", "message", "line", "col"),
    [
        ("strict digraph G {}", "expected 'digraph', found 'strict'", 1, 1),
        ("graph G {}", "expected 'digraph', found 'graph'", 1, 1),
        ("digraph {}", "expected graph name, found '{'", 1, 9),
        ("digraph G {", "expected statement or '}', found end of input", 1, 12),
        ("digraph G {} x", "unexpected content after closing '}'", 1, 14),
        ("digraph G {} /* fine */ // fine", None, 0, 0),
        ("digraph G {\n a -- b }", "unexpected character '-'", 2, 4),
        ("digraph G { a -> {b c} }", "expected node id after '->', found '{'", 1, 18),
        ("digraph G { a:n -> b }", "unexpected character ':'", 1, 14),
        ('digraph G { "a" -> b }', "unexpected character '\"'", 1, 13),
        ("digraph G { 1 -> b }", "unexpected character '1'", 1, 13),
        ("digraph G { a [x=1,] }", "expected attribute name, found ']'", 1, 20),
        ("digraph G { a [x=1; y=2] }", "expected ',' or ']', found ';'", 1, 19),
        ("digraph G { a [x=1\n y=2] }", "expected ',' or ']', found 'y'", 2, 2),
        ("digraph G { a [x=1] [y=2] }", "expected statement or '}', found '['", 1, 21),
        ("digraph G { a [x] }", "expected '=' after 'x', found ']'", 1, 17),
        ("digraph G { a [x=] }", "expected value, found ']'", 1, 18),
        ('digraph G { a [x="a" + "b"] }', "unexpected character '+'", 1, 22),
        ("digraph G { x = }", "expected value, found '}'", 1, 17),
        ('digraph G {\n  a [label="open]\n}', "unterminated string", 2, 12),
        (
            'digraph G {\n graph [goal="x"\n  model_stylesheet="y"]\n}',
            "expected ',' or ']', found 'model_stylesheet'",
            3,
            3,
        ),
    ],
)
def test_parse_errors(text: str, message: str | None, line: int, col: int) -> None:
    if message is None:
        parse_graph(text)
        return
    with pytest.raises(DotParseError) as info:
        parse_graph(text)
    assert (info.value.message, info.value.line, info.value.col) == (message, line, col)


def test_parse_error_text_names_the_file() -> None:
    with pytest.raises(DotParseError) as info:
        parse_graph("digraph G { a [x=1,] }", file="flows/a.dot")
    assert str(info.value) == "flows/a.dot:1:20: expected attribute name, found ']'"
    assert info.value.location == "1:20: expected attribute name, found ']'"


def test_grammar_error_before_a_bad_character_wins() -> None:
    with pytest.raises(DotParseError) as info:
        parse_graph("digraph G { a [x=1 y=2] } $")
    assert info.value.message == "expected ',' or ']', found 'y'"


def test_nodes_in_order_of_first_appearance_and_edges_in_source_order() -> None:
    graph = graph_of("b -> a\n c\n a -> b\n a -> b")
    assert list(graph.nodes) == ["b", "a", "c"]
    assert [(e.source, e.target) for e in graph.edges] == [("b", "a"), ("a", "b"), ("a", "b")]


def test_edge_chain_shares_attributes() -> None:
    graph = graph_of("a -> b -> c [label=x]")
    assert [(e.source, e.target, e.label) for e in graph.edges] == [
        ("a", "b", "x"),
        ("b", "c", "x"),
    ]


def test_graph_attributes_last_write_wins() -> None:
    graph = graph_of('graph [goal="one"]\n goal = "two"\n rankdir=LR')
    assert graph.goal == "two"
    assert graph.rankdir == "LR"


def test_defaults_are_copied_when_created() -> None:
    graph = graph_of("node [shape=tab]\n a\n node [shape=box]\n b\n a [label=A]")
    assert graph.nodes["a"].shape == "tab"
    assert graph.nodes["b"].shape == "box"
    assert graph.nodes["a"].label == "A"


def test_statement_attributes_override_defaults() -> None:
    graph = graph_of("node [shape=tab, label=D]\n a [label=A]")
    assert (graph.nodes["a"].shape, graph.nodes["a"].label) == ("tab", "A")


def test_edge_defaults_then_statement_attributes() -> None:
    graph = graph_of("edge [weight=2, label=d]\n a -> b [label=x]\n edge [weight=5]\n b -> c")
    assert [(e.weight, e.label) for e in graph.edges] == [(2, "x"), (5, "d")]


def test_subgraph_defaults_apply_to_statements_above_them() -> None:
    graph = graph_of("subgraph s {\n a\n node [shape=tab]\n edge [weight=3]\n a -> b\n}\n c")
    assert graph.nodes["a"].shape == "tab"
    assert graph.edges[0].weight == 3
    assert graph.nodes["c"].shape == "box"  # the enclosing scope is restored


def test_subgraph_label_sets_subgraph_attribute_not_graph_label() -> None:
    graph = graph_of('label="Top"\n subgraph cluster_a { label="Inner"; a }')
    assert graph.label == "Top"
    assert graph.subgraphs[0].label == "Inner"
    assert graph.subgraphs[0].name == "cluster_a"


@pytest.mark.parametrize(
    ("body", "classes"),
    [
        ('subgraph c { label="Loop A"; a }', ["loop-a"]),
        ('subgraph c { graph [label="Loop A"]; a }', ["loop-a"]),
        ('subgraph c { a; label="Later Label!" }', ["later-label"]),
        ("subgraph c { a }", []),
        ('subgraph c { label="Outer"; subgraph d { a } }', []),
        ('subgraph c { label="Outer"; subgraph d { label="In"; a } }', ["in"]),
        ('subgraph c { label="X"; a -> b }', ["x"]),
        ('a [class="code, review fast"]', ["code", "review", "fast"]),
        ('a [class="x,,x  y"]', ["x", "y"]),
        ('subgraph c { label="Code"; a [class="code extra"] }', ["code", "extra"]),
    ],
)
def test_classes(body: str, classes: list[str]) -> None:
    assert graph_of(body).nodes["a"].classes == classes


def test_subgraph_membership_and_nesting() -> None:
    graph = graph_of("subgraph a { label=A; x; subgraph b { label=B; y -> z } }\n w")
    assert [(s.name, s.node_ids, s.parent) for s in graph.subgraphs] == [
        ("a", ["x"], None),
        ("b", ["y", "z"], 0),
    ]


@pytest.mark.parametrize(
    ("attrs", "type_"),
    [
        ("codergen_mode=one_shot", "prompt"),
        ("codergen_mode=agent_loop", "agent"),
        ("codergen_mode=other", "other"),
        ("codergen_mode=one_shot, type=human", "human"),
    ],
)
def test_codergen_mode_alias(attrs: str, type_: str) -> None:
    assert graph_of(f"a [{attrs}]").nodes["a"].type == type_


def test_keywords_as_node_ids() -> None:
    graph = graph_of("graph -> node\n subgraph x\n edge")
    assert list(graph.nodes) == ["graph", "node", "subgraph", "x", "edge"]


def test_values_keep_kind_and_position() -> None:
    graph = graph_of('a [timeout=900s, label="x"]')
    value = graph.nodes["a"].attrs["timeout"]
    assert (value.kind, value.text, value.line, value.col) == ("duration", "900s", 2, 12)


def test_deeply_nested_subgraphs_are_a_parse_error() -> None:
    depth = 5000
    text = "digraph G {" + "subgraph {" * depth + "a" + "}" * depth + "}"
    with pytest.raises(DotParseError) as info:
        parse_graph(text)
    assert info.value.message == "subgraphs nested more than 100 deep"
    assert (info.value.line, info.value.col) == (1, 12 + 10 * 100)


def test_nesting_up_to_the_limit_is_fine() -> None:
    text = "digraph G {" + "subgraph {" * 100 + "a" + "}" * 100 + "}"
    assert list(parse_graph(text).nodes) == ["a"]
