"""Human-gate option keys (api.md §6.9) and preferred-label normalisation (§12.1)."""

from __future__ import annotations

import pytest

from fabro.workflow.labels import gate_options, normalize_label, option_key
from fabro.workflow.parser import parse_graph


@pytest.mark.parametrize(
    ("label", "key"),
    [
        ("[A] Approve", "A"),
        ("  [A] Approve", "A"),
        ("[Ok] Ship it", "Ok"),
        ("[] Empty", "["),
        ("A) Approve", "A"),
        ("12) Twelve", "12"),
        ("abc) x", "abc"),
        ("abcd) x", "a"),
        ("a b) x", "a"),
        ("A - Approve", "A"),
        ("AB - Approve", "AB"),
        ("ABCD - x", "A"),
        ("Approve", "A"),
        ("revise", "r"),
        ("", ""),
    ],
)
def test_option_key(label: str, key: str) -> None:
    assert option_key(label) == key


@pytest.mark.parametrize(
    ("label", "normalized"),
    [
        ("[A] Approve", "approve"),
        ("[A]Approve", "approve"),
        ("A) Approve", "approve"),
        ("A - Approve", "approve"),
        ("  Approve  ", "approve"),
        ("AB) x", "ab) x"),
        ("[x", "[x"),
    ],
)
def test_normalize_label(label: str, normalized: str) -> None:
    assert normalize_label(label) == normalized


def test_gate_options() -> None:
    graph = parse_graph(
        'digraph G { gate [shape=hexagon]\n gate -> a [label="[A] Approve"]\n'
        ' gate -> r [label="R) Revise"]\n gate -> other [label=""]\n'
        " gate -> free [freeform=true]\n gate -> free2 [freeform=true] }"
    )
    options = gate_options(graph, "gate")
    assert [(o.key, o.label, o.edge.target) for o in options.options] == [
        ("A", "[A] Approve", "a"),
        ("R", "R) Revise", "r"),
        ("o", "other", "other"),
    ]
    assert options.allow_freeform
    assert options.freeform_edge is not None and options.freeform_edge.target == "free"
    found = options.find("R")
    assert found is not None and found.edge.target == "r"
    assert options.find("Z") is None


def test_an_edge_taken_only_on_failure_is_not_an_option() -> None:
    graph = parse_graph(
        'digraph G { gate [shape=hexagon]\n gate -> a [label="[A] Approve"]\n'
        ' gate -> esc [condition="outcome=fail"]\n gate -> esc2 [condition="outcome!=success"]\n'
        ' gate -> prod [label="[P] Prod", condition="context.env=prod"] }'
    )
    options = gate_options(graph, "gate")
    assert [o.edge.target for o in options.options] == ["a", "prod"]
