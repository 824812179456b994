"""fabro's rules on where a run goes next (rules_routing), firing and not firing."""

from __future__ import annotations

import pytest

from fabro.workflow import rules_routing
from fabro.workflow.prepare import prepare
from fabro.workflow.validate import FABRO_RULES

from .helpers import flow, reported

Expected = list[tuple[str, str | None, tuple[str, str] | None, str]]
FALLS = (
    "can fail and has only unconditional edges: a failure goes on to '{}' as if it had "
    'succeeded; add an edge with condition="outcome=fail"'
)

# rule -> (DOT that fires it, expected [(severity, node_id, edge, message)], DOT that does not)
CASES: dict[str, tuple[str, Expected, str]] = {
    "unconditional_edge_count": (
        flow(
            'build [shape=parallelogram, script="make"]\n a [label=A]\n b [label=B]\n'
            " start -> build\n build -> a\n build -> b\n"
            ' a -> exit [label="ok"]\n a -> b\n b -> exit'
        ),
        [
            (
                "warning",
                "build",
                None,
                "Node 'build' has 2 unconditional edges (a, b); only one is taken ('a'); "
                "use shape=component for a fan-out",
            ),
            (
                "warning",
                "a",
                None,
                "Node 'a' has 2 unconditional edges (exit, b); only one is taken ('b'); "
                "use shape=component for a fan-out",
            ),
        ],
        # A fan-out, a gate's options, a model's labelled choices, one edge plus conditions.
        flow(
            "fan [shape=component]\n x [label=X]\n y [label=Y]\n j [shape=tripleoctagon]\n"
            ' ask [shape=hexagon]\n pick [label=Pick]\n t [shape=parallelogram, script="t"]\n'
            " start -> fan\n fan -> x\n fan -> y\n x -> j\n y -> j\n j -> ask\n"
            ' ask -> pick [label="[Y] Yes"]\n ask -> exit [label="[N] No"]\n'
            ' pick -> t [label="Test"]\n pick -> exit [label="Done"]\n pick -> exit [weight=-1]\n'
            ' t -> exit [condition="outcome=success"]\n t -> pick'
        ),
    ),
    "outcome_value": (
        flow(
            'a [label=A]\n start -> a\n a -> exit [condition="outcome=succes"]\n'
            ' a -> a [condition="context.x=1 && outcome!=FAIL"]\n'
            ' a -> exit [condition="outcome=done"]\n'
            " a -> exit"
        ),
        [
            (
                "warning",
                None,
                ("a", "exit"),
                "Condition 'outcome=succes' on edge a -> exit compares outcome with 'succes', "
                "which is not an outcome (success, fail, partial_success, retry, skipped); "
                "did you mean 'success'?",
            ),
            (
                "warning",
                None,
                ("a", "a"),
                "Condition 'context.x=1 && outcome!=FAIL' on edge a -> a compares outcome with "
                "'FAIL', which is not an outcome (success, fail, partial_success, retry, "
                "skipped); did you mean 'fail'?",
            ),
            (
                "warning",
                None,
                ("a", "exit"),
                "Condition 'outcome=done' on edge a -> exit compares outcome with 'done', "
                "which is not an outcome (success, fail, partial_success, retry, skipped)",
            ),
        ],
        flow(
            "a [label=A]\n start -> a\n"
            ' a -> exit [condition="outcome=success || outcome=skipped"]\n'
            ' a -> a [condition="!outcome=fail && preferred_label=done"]\n'
            ' a -> exit [condition="context.outcome=anything"]\n a -> exit'
        ),
    ),
    "failure_falls_through": (
        flow(
            'plan [label=Plan]\n build [shape=parallelogram, script="make", retry_target=plan]\n'
            ' review [shape=tab, prompt="r"]\n start -> plan -> build -> review -> exit'
        ),
        [
            ("warning", "plan", None, "Node 'plan' " + FALLS.format("build")),
            ("warning", "build", None, "Node 'build' " + FALLS.format("review")),
            ("warning", "review", None, "Node 'review' " + FALLS.format("exit")),
        ],
        # Failure edges, goal gates, auto_status, and kinds that cannot fall through.
        flow(
            'plan [label=Plan]\n build [shape=parallelogram, script="make"]\n'
            " gate [label=G, goal_gate=true, retry_target=plan]\n"
            " quiet [label=Q, auto_status=true]\n"
            " ask [shape=hexagon]\n c [shape=diamond]\n fan [shape=component]\n"
            # Parallel branches hand their outcome to the join; their own edges are not taken.
            ' lint [shape=parallelogram, script="lint"]\n unit [shape=parallelogram, script="t"]\n'
            " join [shape=tripleoctagon]\n"
            ' start -> plan\n plan -> build [condition="outcome=success"]\n plan -> exit\n'
            ' build -> gate\n build -> plan [condition="outcome=fail"]\n gate -> quiet -> ask\n'
            ' ask -> c [label="[Y] Yes"]\n c -> fan\n fan -> lint\n fan -> unit\n'
            ' lint -> join\n unit -> join\n join -> exit [condition="outcome=success"]\n'
            " join -> plan"
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


def test_every_routing_rule_is_listed_and_has_cases() -> None:
    names = {rule.__name__ for rule in FABRO_RULES if rule.__module__ == rules_routing.__name__}
    assert names == set(CASES)


def test_an_unparseable_condition_is_left_to_condition_syntax() -> None:
    text = flow('a [label=A]\n start -> a\n a -> exit [condition="outcome=="]\n a -> exit')
    rules = {d.rule for d in prepare(text).diagnostics}
    assert "condition_syntax" in rules and "outcome_value" not in rules
