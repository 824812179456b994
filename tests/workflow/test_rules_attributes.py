"""fabro's rules on what nodes and edges say (rules_attributes), firing and not firing."""

from __future__ import annotations

import pytest

from fabro.workflow import rules_attributes
from fabro.workflow.prepare import prepare
from fabro.workflow.rules_attributes import did_you_mean
from fabro.workflow.validate import FABRO_RULES

from .helpers import flow, linear, reported, rules_of

Expected = list[tuple[str, str | None, tuple[str, str] | None, str]]

# rule -> (DOT that fires it, expected [(severity, node_id, edge, message)], DOT that does not)
CASES: dict[str, tuple[str, Expected, str]] = {
    "script_on_command_nodes": (
        linear(
            'build [shape=parallelogram]\n blank [type=command, script="  "]\n'
            " work -> build -> blank -> exit"
        ),
        [
            ("error", "build", None, "Command node 'build' has no script attribute"),
            ("error", "blank", None, "Command node 'blank' has no script attribute"),
        ],
        linear(
            'build [shape=parallelogram, script="make"]\n old [type=tool, tool_command="ls"]\n'
            " work -> build -> old -> exit"
        ),
    ),
    "attribute_known": (
        flow(
            'node [promt="x"]\n a [label=A, max_retry=2]\n b [label=B]\n'
            ' start -> a -> b\n b -> exit [conditon="outcome=success"]',
            graph_attrs="rankdri=LR",
        ),
        [
            (
                "warning",
                None,
                None,
                "Graph has unknown attribute 'rankdri'; did you mean 'rankdir'?",
            ),
            (
                "warning",
                "a",
                None,
                "Node 'a' has unknown attribute 'promt'; did you mean 'prompt'?",
            ),
            (
                "warning",
                "a",
                None,
                "Node 'a' has unknown attribute 'max_retry'; did you mean 'max_retries'?",
            ),
            (
                "warning",
                None,
                ("b", "exit"),
                "Edge b -> exit has unknown attribute 'conditon'; did you mean 'condition'?",
            ),
        ],
        flow(
            'node [fontname="Helvetica", color=blue]\n'
            'a [label=A, prompt="p", max_retries=2, tool_command="x", codergen_mode=one_shot]\n'
            ' start -> a [style=dashed, weight=2, label="go"]\n a -> exit',
            graph_attrs='rankdir=LR, goal="g", bgcolor=white',
        ),
    ),
    "shape_known": (
        linear(
            "plan [label=P, shape=ellipse]\n odd [label=O, shape=paralelogram]\n"
            " work -> plan -> odd -> exit"
        ),
        [
            (
                "warning",
                "plan",
                None,
                "Node 'plan' has shape 'ellipse', which is not a fabro node kind, "
                "so it runs as an agent stage",
            ),
            (
                "warning",
                "odd",
                None,
                "Node 'odd' has shape 'paralelogram', which is not a fabro node kind, "
                "so it runs as an agent stage; did you mean 'parallelogram'?",
            ),
        ],
        # Start and exit by id, an explicit type, and fabro's shapes are all fine.
        "digraph G {\n start [shape=circle]\n exit [shape=doublecircle]\n"
        ' t [shape=note, type=command, script="true"]\n c [shape=diamond]\n'
        " start -> t -> c -> exit\n}",
    ),
    "secret_names_valid": (
        flow(
            'deploy [shape=parallelogram, script="make", secrets="DB_PASSWORD, 9LIVES, A-B"]\n'
            " start -> deploy -> exit",
            graph_attrs='secrets="API_TOKEN,bad name"',
        ),
        [
            (
                "error",
                None,
                None,
                "Graph names secret 'bad name', which is not a valid secret name (letters, "
                "digits and _, not starting with a digit, at most 128 characters)",
            ),
            (
                "error",
                "deploy",
                None,
                "Node 'deploy' names secret '9LIVES', which is not a valid secret name "
                "(letters, digits and _, not starting with a digit, at most 128 characters)",
            ),
            (
                "error",
                "deploy",
                None,
                "Node 'deploy' names secret 'A-B', which is not a valid secret name "
                "(letters, digits and _, not starting with a digit, at most 128 characters)",
            ),
        ],
        flow(
            'deploy [shape=parallelogram, script="make", secrets=" DB_PASSWORD , _x9,"]\n'
            " start -> deploy -> exit",
            graph_attrs='secrets="API_TOKEN"',
        ),
    ),
}


@pytest.mark.parametrize("rule", list(CASES))
def test_rule_fires(rule: str) -> None:
    text, expected, _ = CASES[rule]
    assert reported(rule, text) == expected


@pytest.mark.parametrize("rule", list(CASES))
def test_rule_does_not_fire(rule: str) -> None:
    assert reported(rule, CASES[rule][2]) == []


def test_a_default_is_reported_once_not_per_node() -> None:
    text = linear('node [lable="x"]\n a\n b\n work -> a -> b -> exit')
    found = rules_of(prepare(text).diagnostics, "attribute_known")
    assert [d.node_id for d in found] == ["a"]  # the first node that got the default


def test_a_name_far_from_every_known_one_has_no_suggestion() -> None:
    assert did_you_mean("zzzz", ["prompt", "label"]) == ""
    assert did_you_mean("labl", ["prompt", "label"]) == "; did you mean 'label'?"


def test_a_command_without_script_makes_the_workflow_invalid() -> None:
    prepared = prepare(linear("build [shape=parallelogram]\n work -> build -> exit"))
    assert not prepared.ok


def test_every_attribute_rule_is_listed_and_has_cases() -> None:
    names = {rule.__name__ for rule in FABRO_RULES if rule.__module__ == rules_attributes.__name__}
    assert names == set(CASES)
