"""Typed attributes (§6.1), accessors with defaults (§6.2-§6.5), kinds (§5), JSON round trip."""

from __future__ import annotations

import json

import pytest

from fabro.workflow.attributes import (
    ANY_INT,
    BOOLEAN,
    DURATION_TYPE,
    NON_NEGATIVE,
    POSITIVE,
    AttrType,
    convert,
    type_error,
)
from fabro.workflow.model import Graph
from fabro.workflow.parser import parse_graph
from fabro.workflow.value import Value


def value(source: str) -> Value:
    graph = parse_graph(f"digraph G {{ a [v={source}] }}")
    return graph.nodes["a"].attrs["v"]


@pytest.mark.parametrize(
    ("source", "attr_type", "expected"),
    [
        ("3", NON_NEGATIVE, 3),
        ('"3"', NON_NEGATIVE, 3),
        ("0", NON_NEGATIVE, 0),
        ("-1", NON_NEGATIVE, None),
        ("-1", ANY_INT, -1),
        ('"-7"', ANY_INT, -7),
        ("0", POSITIVE, None),
        ('"abc"', NON_NEGATIVE, None),
        ("1.5", NON_NEGATIVE, None),
        ("5s", NON_NEGATIVE, None),
        ("true", BOOLEAN, True),
        ('"false"', BOOLEAN, False),
        ("True", BOOLEAN, None),
        ('"yes"', BOOLEAN, None),
        ("1", BOOLEAN, None),
        ("900s", DURATION_TYPE, 900_000),
        ("15m", DURATION_TYPE, 900_000),
        ("2h", DURATION_TYPE, 7_200_000),
        ("1d", DURATION_TYPE, 86_400_000),
        ("250ms", DURATION_TYPE, 250),
        ("1200", DURATION_TYPE, 1_200_000),
        ('"1200"', DURATION_TYPE, 1_200_000),
        ('"30s"', DURATION_TYPE, 30_000),
        ("-5s", DURATION_TYPE, None),
        ("-5", DURATION_TYPE, None),
        ('"1.5s"', DURATION_TYPE, None),
        ('"soon"', DURATION_TYPE, None),
        ("0.5", DURATION_TYPE, None),
    ],
)
def test_coercion(source: str, attr_type: AttrType, expected: int | bool | None) -> None:
    assert convert(value(source), attr_type) == expected


@pytest.mark.parametrize(
    ("attr_type", "phrase"),
    [
        (ANY_INT, "an integer"),
        (NON_NEGATIVE, "an integer >= 0"),
        (POSITIVE, "an integer >= 1"),
        (BOOLEAN, "true or false"),
        (DURATION_TYPE, "a duration such as 900s, 15m or 2h"),
    ],
)
def test_type_phrases(attr_type: AttrType, phrase: str) -> None:
    assert type_error(Value("string", "abc"), attr_type) == f"must be {phrase} (got 'abc')"


def test_string_attributes_keep_literal_text() -> None:
    graph = parse_graph('digraph G { a [label="30s", llm_model=gpt-5.2, weight=3] }')
    node = graph.nodes["a"]
    assert (node.label, node.llm_model, node.get("weight")) == ("30s", "gpt-5.2", "3")


@pytest.mark.parametrize(
    ("attrs", "node_id", "kind"),
    [
        ("shape=Mdiamond", "a", "start"),
        ("shape=Msquare", "a", "exit"),
        ("", "a", "agent"),
        ("shape=box", "a", "agent"),
        ("shape=tab", "a", "prompt"),
        ("shape=parallelogram", "a", "command"),
        ("shape=hexagon", "a", "human"),
        ("shape=diamond", "a", "conditional"),
        ("shape=component", "a", "parallel"),
        ("shape=tripleoctagon", "a", "parallel.fan_in"),
        ("shape=house", "a", "stack.manager_loop"),
        ("shape=insulator", "a", "wait"),
        ("shape=circle", "a", "agent"),
        ("type=tool", "a", "command"),
        ("type=one_shot", "a", "prompt"),
        ("type=agent_loop", "a", "agent"),
        ("type=mystery", "a", "agent"),
        ("shape=tab, type=human", "a", "human"),
        ("type=exit", "a", "exit"),
        ("shape=circle", "start", "start"),
        ("", "end", "exit"),
        ("shape=box", "End", "exit"),
        ("type=agent", "exit", "exit"),
    ],
)
def test_node_kinds(attrs: str, node_id: str, kind: str) -> None:
    graph = parse_graph(f"digraph G {{ {node_id} [{attrs}] }}")
    assert graph.nodes[node_id].kind == kind


def test_node_defaults() -> None:
    node = parse_graph("digraph G { a }").nodes["a"]
    assert node.label == "a"
    assert node.shape == "box"
    assert node.type is None
    assert node.timeout_ms is None
    assert node.max_visits == 0
    assert node.max_retries is None
    assert (node.goal_gate, node.auto_status, node.allow_partial) == (False, False, False)
    assert node.prompt == "a"
    assert node.reasoning_effort == "high"
    assert node.max_tokens is None
    assert node.max_turns == 50
    assert node.project_memory is True
    assert node.backend == "api"
    assert node.language == "shell"
    assert node.join_policy == "wait_all"
    assert node.error_policy == "continue"
    assert node.max_parallel == 4
    assert node.duration_ms is None
    assert node.manager_poll_interval_ms == 45_000
    assert node.manager_max_cycles == 1000
    assert node.script is None


def test_node_typed_values() -> None:
    node = parse_graph(
        'digraph G { a [shape=parallelogram, tool_command="make", timeout="20m",'
        ' max_retries="2", goal_gate="true", max_agent_turns=8, human.default_choice=b,'
        " manager.poll_interval=10s, duration=5, retry_target=b, fidelity=full] }"
    ).nodes["a"]
    assert node.script == "make"
    assert node.timeout_ms == 1_200_000
    assert node.max_retries == 2
    assert node.goal_gate is True
    assert node.max_turns == 8
    assert node.human_default_choice == "b"
    assert node.manager_poll_interval_ms == 10_000
    assert node.duration_ms == 5_000
    assert (node.retry_target, node.fidelity) == ("b", "full")


def test_command_timeout_default() -> None:
    graph = parse_graph("digraph G { a [shape=parallelogram] }")
    assert graph.nodes["a"].timeout_ms == 600_000


def test_edge_accessors() -> None:
    graph = parse_graph(
        'digraph G { a -> b\n a -> c [label="Go", condition=" outcome=success ", weight=-2,'
        ' loop_restart="true", freeform=true, fidelity=full, thread_id=t] }'
    )
    plain, rich = graph.edges
    assert (plain.label, plain.condition, plain.weight, plain.loop_restart, plain.freeform) == (
        None,
        "",
        0,
        False,
        False,
    )
    assert (rich.label, rich.condition, rich.weight) == ("Go", "outcome=success", -2)
    assert (rich.loop_restart, rich.freeform, rich.fidelity, rich.thread_id) == (
        True,
        True,
        "full",
        "t",
    )


def test_graph_accessors_and_defaults() -> None:
    graph = parse_graph("digraph G { a }")
    assert graph.goal == ""
    assert graph.default_max_retries == 3
    assert graph.default_fidelity == "compact"
    assert graph.max_node_visits is None
    assert graph.stall_timeout_ms == 1_800_000
    assert graph.loop_restart_signature_limit == 3
    set_graph = parse_graph(
        'digraph G { graph [default_max_retry="4", stall_timeout="300", max_node_visits=20,'
        " loop_restart_signature_limit=5, default_fidelity=truncate, goal=g] a [max_retries=1] b }"
    )
    assert set_graph.default_max_retries == 4
    assert set_graph.stall_timeout_ms == 300_000
    assert set_graph.max_node_visits == 20
    assert set_graph.loop_restart_signature_limit == 5
    assert set_graph.max_retries_for(set_graph.nodes["a"]) == 1
    assert set_graph.max_retries_for(set_graph.nodes["b"]) == 4
    assert set_graph.context_attrs()["graph.goal"] == "g"


def test_start_and_terminal_helpers() -> None:
    graph = parse_graph("digraph G { Start; start; s [shape=Mdiamond]; end; e [shape=Msquare] }")
    start = graph.start_node()
    assert start is not None and start.id == "s"
    assert [n.id for n in graph.terminal_nodes()] == ["end", "e"]
    graph = parse_graph("digraph G { Start; start }")
    start = graph.start_node()
    assert start is not None and start.id == "start"


def test_outgoing_and_incoming() -> None:
    graph = parse_graph("digraph G { a -> b; a -> c; c -> b }")
    assert [e.target for e in graph.outgoing("a")] == ["b", "c"]
    assert [e.source for e in graph.incoming("b")] == ["a", "c"]
    assert graph.outgoing("b") == []


def test_json_round_trip() -> None:
    source = (
        'digraph G { graph [goal="g", stall_timeout=10s] node [shape=tab]\n'
        'subgraph cluster_a { label="A"; subgraph { x [class="k"] } }\n'
        'x -> y [condition="outcome=success", weight=2]\n y -> x }'
    )
    graph = parse_graph(source)
    data = json.loads(json.dumps(graph.to_json()))
    again = Graph.from_json(data)
    assert again == graph
    assert again.to_json() == graph.to_json()
    assert list(again.nodes) == list(graph.nodes)
    assert again.outgoing("x")[0].weight == 2
