"""Each validation rule (workflow-language.md §11), firing and not firing."""

from __future__ import annotations

import pytest

from fabro.workflow.diagnostics import Diagnostic
from fabro.workflow.model import Edge, Graph, Node
from fabro.workflow.prepare import prepare
from fabro.workflow.validate import FABRO_RULES, RULES, Subject, validate

from .helpers import flow, linear, reported, rules_of

# rule -> (DOT that fires it, expected [(severity, node_id, edge, message)], DOT that does not)
CASES: dict[str, tuple[str, list[tuple[str, str | None, tuple[str, str] | None, str]], str]] = {
    "start_node": (
        "digraph G { exit [shape=Msquare] }",
        [
            (
                "error",
                None,
                None,
                "Pipeline must have exactly one start node (shape=Mdiamond or id start/Start)",
            )
        ],
        linear(),
    ),
    "terminal_node": (
        flow("end\n start -> exit\n start -> end"),
        [("error", None, None, "Pipeline must have exactly one terminal node, found 2")],
        linear(),
    ),
    "reachability": (
        linear("island [label=I]\n island -> exit"),
        [("warning", "island", None, "Node 'island' is not reachable from the start node")],
        linear(),
    ),
    "start_no_incoming": (
        linear(extra_edges="work -> start"),
        [("error", "start", None, "Start node 'start' has 1 incoming edge(s) but must have none")],
        linear(),
    ),
    "exit_no_outgoing": (
        linear(extra_edges="exit -> work\n exit -> start"),
        [("error", "exit", None, "Exit node 'exit' has 2 outgoing edge(s) but must have none")],
        linear(),
    ),
    "condition_syntax": (
        linear(extra_edges='work -> exit [condition="preferred_label=More fixes"]'),
        [
            (
                "error",
                None,
                ("work", "exit"),
                "Condition 'preferred_label=More fixes' on edge work -> exit failed parse: "
                'unexpected token Word("fixes")',
            )
        ],
        linear(extra_edges='work -> exit [condition="outcome=success"]'),
    ),
    "stylesheet_syntax": (
        linear(graph_attrs='model_stylesheet="* { llm_model: x"'),
        [
            (
                "error",
                None,
                None,
                "Model stylesheet parse error: unexpected end of stylesheet, expected '}'",
            )
        ],
        linear(graph_attrs='model_stylesheet="* { llm_model: opus; }"'),
    ),
    "type_known": (
        linear("odd [type=mystery]\n work -> odd -> exit"),
        [("warning", "odd", None, "Node 'odd' has unrecognized type 'mystery'")],
        linear("odd [type=agent_loop, label=x]\n work -> odd -> exit"),
    ),
    "fidelity_valid": (
        linear(
            'odd [fidelity=lossy, label=o]\n work -> odd\n odd -> exit [fidelity="summary:max"]',
            graph_attrs="default_fidelity=none",
        ),
        [
            ("warning", None, None, "Graph has invalid default_fidelity 'none'"),
            ("warning", "odd", None, "Node 'odd' has invalid fidelity mode 'lossy'"),
            (
                "warning",
                None,
                ("odd", "exit"),
                "Edge odd -> exit has invalid fidelity mode 'summary:max'",
            ),
        ],
        linear('odd [fidelity=full, label=o]\n work -> odd -> exit [fidelity="summary:high"]'),
    ),
    "retry_target_exists": (
        linear(
            "work2 [label=w, retry_target=ghost, fallback_retry_target=work]\n"
            " work -> work2 -> exit",
            graph_attrs="fallback_retry_target=nowhere",
        ),
        [
            (
                "warning",
                None,
                None,
                "Graph has fallback_retry_target 'nowhere' that does not exist",
            ),
            ("warning", "work2", None, "Node 'work2' has retry_target 'ghost' that does not exist"),
        ],
        linear("work2 [label=w, retry_target=work]\n work -> work2 -> exit"),
    ),
    "goal_gate_has_retry": (
        linear('gate [label=g, goal_gate="true"]\n work -> gate -> exit'),
        [
            (
                "warning",
                "gate",
                None,
                "Node 'gate' has goal_gate=true but no retry_target or fallback_retry_target",
            )
        ],
        linear(
            "gate [label=g, goal_gate=true]\n work -> gate -> exit", graph_attrs="retry_target=work"
        ),
    ),
    "prompt_on_llm_nodes": (
        linear("bare\n silent [shape=tab]\n work -> bare -> silent -> exit"),
        [
            ("warning", "bare", None, "LLM node 'bare' has no prompt or label attribute"),
            ("warning", "silent", None, "LLM node 'silent' has no prompt or label attribute"),
        ],
        linear('p [prompt="x"]\n c [shape=parallelogram, script=true]\n work -> p -> c -> exit'),
    ),
    "freeform_edge_count": (
        linear(
            "ask [shape=hexagon]\n work -> ask\n ask -> exit [freeform=true]\n"
            ' ask -> work [freeform="true"]\n ask -> exit'
        ),
        [
            (
                "error",
                "ask",
                None,
                "wait.human node 'ask' has 2 freeform edges but at most one is allowed",
            )
        ],
        linear("ask [shape=hexagon]\n work -> ask\n ask -> exit [freeform=true]\n ask -> work"),
    ),
    "direction_valid": (
        linear(graph_attrs="rankdir=XY"),
        [("warning", None, None, "Graph has invalid rankdir 'XY'")],
        linear(graph_attrs="rankdir=RL"),
    ),
    "reserved_keyword_node_id": (
        linear("Strict [label=s]\n work -> Strict -> exit"),
        [
            (
                "warning",
                "Strict",
                None,
                "Node ID 'Strict' is a DOT reserved keyword and may cause parsing failures",
            )
        ],
        linear("strictly [label=s]\n work -> strictly -> exit"),
    ),
    "all_conditional_edges": (
        linear(extra_edges="").replace(
            "start -> work -> exit", 'start -> work\n work -> exit [condition="outcome=success"]'
        ),
        [
            (
                "error",
                "work",
                None,
                "Node 'work' has all conditional outgoing edges with no unconditional fallback",
            )
        ],
        linear(extra_edges='work -> start [condition="outcome=fail"]').replace(
            "work -> start", "work -> work"
        ),
    ),
    "orphan_custom_outcome": (
        linear().replace(
            "start -> work -> exit",
            'start -> work\n work -> exit [condition="x=1 &&  outcome=done"]',
        ),
        [
            (
                "warning",
                "work",
                None,
                "Node 'work' uses outcome-based routing but has no unconditional fallback edge",
            )
        ],
        linear().replace(
            "start -> work -> exit",
            'start -> work\n work -> exit [condition="outcome=done"]\n work -> exit',
        ),
    ),
    "script_absolute_cd": (
        linear('sh [shape=parallelogram, script="cd   /tmp && make"]\n work -> sh -> exit'),
        [("warning", "sh", None, "Script node 'sh' contains `cd /…` with an absolute path")],
        linear('sh [shape=parallelogram, script="cd build && make"]\n work -> sh -> exit'),
    ),
    "stylesheet_model_known": (
        linear(
            graph_attrs='model_stylesheet="* { llm_model: gpt-9; } .x { llm_provider: google; }"'
        ),
        [
            (
                "warning",
                None,
                None,
                "Unknown model 'gpt-9' in stylesheet rule '*'; see GET /models for known models",
            ),
            (
                "warning",
                None,
                None,
                "Unknown provider 'google' in stylesheet rule '.x'. Valid providers: "
                "anthropic, openai, gemini, kimi, zai, minimax, inception",
            ),
        ],
        linear(graph_attrs='model_stylesheet="* { llm_model: sonnet; llm_provider: open_ai; }"'),
    ),
    "unresolved_file_ref": (
        linear('p [prompt="@prompts/x.md"]\n work -> p -> exit', graph_attrs='goal="@goal.md"'),
        [
            ("error", None, None, "Graph goal has unresolved file reference: @goal.md"),
            ("error", "p", None, "Node 'p' has unresolved file reference: @prompts/x.md"),
        ],
        linear('p [prompt="mail me @ home"]\n work -> p -> exit'),
    ),
    "attribute_type": (
        linear(
            'bad [label=b, max_retries=abc, timeout="soon", goal_gate=yes]\n'
            " work -> bad\n bad -> exit [weight=high]",
            graph_attrs="default_max_retry=-1",
        ),
        [
            (
                "error",
                None,
                None,
                "Graph attribute 'default_max_retry' must be an integer >= 0 (got '-1')",
            ),
            (
                "error",
                "bad",
                None,
                "Attribute 'max_retries' on node 'bad' must be an integer >= 0 (got 'abc')",
            ),
            (
                "error",
                "bad",
                None,
                "Attribute 'timeout' on node 'bad' must be a duration such as 900s, 15m or 2h "
                "(got 'soon')",
            ),
            (
                "error",
                "bad",
                None,
                "Attribute 'goal_gate' on node 'bad' must be true or false (got 'yes')",
            ),
            (
                "error",
                None,
                ("bad", "exit"),
                "Attribute 'weight' on edge bad -> exit must be an integer (got 'high')",
            ),
        ],
        linear(
            'ok [label=o, max_retries="2", timeout=1200, goal_gate="false", max_agent_turns="8"]\n'
            ' work -> ok -> exit [weight="-3"]'
        ),
    ),
    "dead_end": (
        linear("stop [label=s]\n work -> stop"),
        [
            (
                "warning",
                "stop",
                None,
                "Node 'stop' has no outgoing edges and is not an exit node; the run ends there",
            )
        ],
        linear(),
    ),
    "undefined_variable": (
        linear('p [prompt="Use $tool"]\n work -> p -> exit'),
        [("error", "p", None, "Node 'p' prompt uses undefined variable $tool")],
        linear('p [prompt="Use $goal and $$tool"]\n work -> p -> exit'),
    ),
}


def test_every_rule_has_a_case() -> None:
    names = [rule.__name__ for rule in RULES if rule not in FABRO_RULES]
    assert len(names) == 24
    assert set(names) - {"edge_target_exists"} == set(CASES)


@pytest.mark.parametrize("rule", list(CASES))
def test_rule_fires(rule: str) -> None:
    text, expected, _ = CASES[rule]
    assert reported(rule, text) == expected


@pytest.mark.parametrize("rule", list(CASES))
def test_rule_does_not_fire(rule: str) -> None:
    assert reported(rule, CASES[rule][2]) == []


@pytest.mark.parametrize("rule", list(CASES))
def test_clean_counterexamples_have_no_errors(rule: str) -> None:
    prepared = prepare(CASES[rule][2])
    assert prepared.ok, [d.format() for d in prepared.errors]


def test_edge_target_exists_for_graphs_built_in_code() -> None:
    graph = Graph("G", nodes={"start": Node("start", {}), "exit": Node("exit", {})})
    graph.edges = [Edge("start", "exit"), Edge("start", "ghost"), Edge("phantom", "exit")]
    found = rules_of(validate(graph), "edge_target_exists")
    assert [(d.edge, d.message) for d in found] == [
        (("start", "ghost"), "Edge from 'start' targets non-existent node 'ghost'"),
        (("phantom", "exit"), "Edge source 'phantom' references non-existent node"),
    ]


def test_start_node_count_message() -> None:
    text = flow("Start -> exit\n start -> exit")
    found = rules_of(prepare(text).diagnostics, "start_node")
    assert [d.message for d in found] == ["Pipeline has 2 start nodes but must have exactly one"]


def test_terminal_node_missing_message() -> None:
    found = rules_of(prepare("digraph G { start [shape=Mdiamond] }").diagnostics, "terminal_node")
    assert [d.message for d in found] == [
        "Pipeline must have exactly one terminal node (shape=Msquare or id exit/end)"
    ]


def test_reachability_is_skipped_without_a_start_node() -> None:
    assert rules_of(prepare("digraph G { a -> exit; b }").diagnostics, "reachability") == []


def test_diagnostics_come_in_rule_order() -> None:
    text = "digraph G { a [fidelity=bad] }"
    order = [d.rule for d in prepare(text).diagnostics]
    assert order == [
        "start_node",
        "terminal_node",
        "fidelity_valid",
        "prompt_on_llm_nodes",
        "dead_end",
    ]


def test_max_agent_turns_is_only_checked_when_read() -> None:
    text = linear("a [label=a, max_turns=3, max_agent_turns=lots]\n work -> a -> exit")
    assert prepare(text).ok


def test_subject_parses_its_own_stylesheet() -> None:
    graph = prepare(linear(graph_attrs='model_stylesheet="* { llm_model: nope; }"')).graph
    rules = [d.rule for d in validate(Subject(graph))]
    assert rules == ["stylesheet_model_known", "failure_falls_through"]


@pytest.mark.parametrize(
    ("diagnostic", "text", "data"),
    [
        (
            Diagnostic("dead_end", "warning", "m", node_id="x"),
            "warning [node: x]: m (dead_end)",
            {"rule": "dead_end", "severity": "warning", "message": "m", "node_id": "x"},
        ),
        (
            Diagnostic("attribute_type", "error", "m", edge=("a", "b")),
            "error [edge: a -> b]: m (attribute_type)",
            {
                "rule": "attribute_type",
                "severity": "error",
                "message": "m",
                "edge": {"from": "a", "to": "b"},
            },
        ),
        (
            Diagnostic("start_node", "error", "m"),
            "error: m (start_node)",
            {"rule": "start_node", "severity": "error", "message": "m"},
        ),
    ],
)
def test_diagnostic_forms(diagnostic: Diagnostic, text: str, data: dict[str, object]) -> None:
    assert diagnostic.format() == text
    assert diagnostic.to_json() == data
    assert Diagnostic.from_json(diagnostic.to_json()) == diagnostic


def test_prepared_helpers() -> None:
    prepared = prepare("digraph G { a [label=A] }")
    assert not prepared.ok
    assert prepared.error_summary() == "; ".join(d.message for d in prepared.errors)
    assert [d.rule for d in prepared.warnings] == ["dead_end"]
