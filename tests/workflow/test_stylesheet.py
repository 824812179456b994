"""The model stylesheet (workflow-language.md §8)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabro.workflow.errors import StylesheetSyntaxError
from fabro.workflow.model import Node
from fabro.workflow.prepare import prepare
from fabro.workflow.stylesheet import Rule, parse_stylesheet


def test_parse_rules() -> None:
    rules = parse_stylesheet(
        "* { llm_model: a; llm_provider: b; }\n box{reasoning_effort:low}\n"
        " .code { llm_model : c ;; }  #review { llm_model: d; other: x y }"
    )
    assert rules == [
        Rule("*", "*", (("llm_model", "a"), ("llm_provider", "b"))),
        Rule("shape", "box", (("reasoning_effort", "low"),)),
        Rule("class", "code", (("llm_model", "c"),)),
        Rule("id", "review", (("llm_model", "d"), ("other", "x y"))),
    ]
    assert [r.specificity for r in rules] == [0, 1, 2, 3]
    assert [r.selector for r in rules] == ["*", "box", ".code", "#review"]


def test_empty_stylesheet() -> None:
    assert parse_stylesheet("  \n ") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("* llm_model: a; }", "expected '{' after selector"),
        ("# { }", "expected identifier after '#'"),
        (". { }", "expected class name after '.'"),
        (".Code { }", "expected class name after '.'"),
        ("> { }", "expected selector ('*', '#id', '.class', or shape name)"),
        ("* { llm_model a; }", "expected ':' after property name 'llm_model'"),
        ("* { llm_model: ; }", "empty value for property 'llm_model'"),
        ("* { llm_model: a;", "unexpected end of stylesheet, expected '}'"),
        ("* { llm_model: a", "unexpected end of stylesheet, expected '}'"),
        ("* {", "unexpected end of stylesheet, expected '}'"),
        ("*", "expected '{' after selector"),
    ],
)
def test_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(StylesheetSyntaxError) as info:
        parse_stylesheet(text)
    assert info.value.message == message


STYLED = """digraph S {
  graph [model_stylesheet="
    #special { llm_model: id-model; }
    .code { llm_model: class-model; reasoning_effort: medium; }
    box { llm_model: shape-model; backend: cli; }
    * { llm_model: star-model; llm_provider: anthropic; other: ignored }
    .code { llm_provider: openai; }
    .code { llm_provider: gemini; }
  "]
  node [llm_provider=from-defaults]
  plain [shape=tab]
  boxed
  coded [class="code"]
  special [class="code"]
  explicit [class="code", llm_model=mine]
}"""


@pytest.mark.parametrize(
    ("node_id", "model", "provider", "effort", "backend"),
    [
        ("plain", "star-model", "from-defaults", None, None),
        ("boxed", "shape-model", "from-defaults", None, "cli"),
        ("coded", "class-model", "from-defaults", "medium", "cli"),
        ("special", "id-model", "from-defaults", "medium", "cli"),
        ("explicit", "mine", "from-defaults", "medium", "cli"),
    ],
)
def test_specificity_and_application(
    node_id: str, model: str, provider: str, effort: str | None, backend: str | None
) -> None:
    node = prepare(STYLED).graph.nodes[node_id]
    assert node.get("llm_model") == model
    assert node.get("llm_provider") == provider  # node [..] defaults win over the stylesheet
    assert node.get("reasoning_effort") == effort
    assert node.get("backend") == backend
    assert node.get("other") is None


def test_later_rule_wins_on_equal_specificity() -> None:
    text = (
        'digraph S { graph [model_stylesheet=".a { llm_provider: x } .b { llm_provider: y }"]'
        ' n [class="a b"] }'
    )
    assert prepare(text).graph.nodes["n"].get("llm_provider") == "y"


def test_class_from_subgraph_label() -> None:
    text = (
        'digraph S { graph [model_stylesheet=".loop-a { llm_model: m }"]'
        ' subgraph c { label="Loop A"; n } }'
    )
    assert prepare(text).graph.nodes["n"].llm_model == "m"


def test_unparseable_stylesheet_is_not_applied() -> None:
    prepared = prepare('digraph S { graph [model_stylesheet="* { llm_model: m"] n }')
    assert prepared.graph.nodes["n"].llm_model is None
    assert [d.rule for d in prepared.errors] == ["start_node", "terminal_node", "stylesheet_syntax"]


def _winner_by_scanning(rules: list[Rule], node: Node, prop: str) -> str | None:
    """§8 read literally: the matching rules by specificity, the later one on a tie."""
    matching = sorted((rule for rule in rules if rule.matches(node)), key=lambda r: r.specificity)
    for rule in reversed(matching):
        value = next((v for k, v in reversed(rule.declarations) if k == prop), None)
        if value is not None:
            return value
    return None


_SELECTORS = st.sampled_from(["*", "box", "tab", ".a", ".b", ".c", "#n0", "#n1"])
_DECLARATION = st.tuples(st.sampled_from(["llm_model", "backend", "other"]), st.sampled_from("xyz"))
_RULE = st.tuples(_SELECTORS, st.lists(_DECLARATION, min_size=1, max_size=3)).map(
    lambda pair: pair[0] + " { " + "; ".join(f"{k}: {v}" for k, v in pair[1]) + " }"
)
_NODE = st.tuples(st.sampled_from(["box", "tab"]), st.lists(st.sampled_from("abc"), max_size=3))


@settings(max_examples=300, deadline=None)
@given(st.lists(_RULE, max_size=8), st.lists(_NODE, min_size=1, max_size=3))
def test_application_picks_the_winner_of_every_matching_rule(
    rules_text: list[str], nodes: list[tuple[str, list[str]]]
) -> None:
    stylesheet = " ".join(rules_text)
    body = "\n".join(
        f'n{i} [shape={shape}, class="{" ".join(classes)}"]'
        for i, (shape, classes) in enumerate(nodes)
    )
    graph = prepare(f'digraph S {{ graph [model_stylesheet="{stylesheet}"]\n{body} }}').graph
    unstyled = prepare(f"digraph S {{ {body} }}").graph
    rules = parse_stylesheet(stylesheet)
    for node_id, node in graph.nodes.items():
        for prop in ("llm_model", "backend", "other"):
            expected = (
                None
                if prop == "other"
                else _winner_by_scanning(rules, unstyled.nodes[node_id], prop)
            )
            assert node.get(prop) == expected, (stylesheet, node_id, prop)
