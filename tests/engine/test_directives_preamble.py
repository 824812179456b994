"""Routing directives in responses (§13) and fidelity/threads/preamble (§15): pure functions."""

from __future__ import annotations

import pytest

from fabro.engine.directives import apply_directive, find_directive
from fabro.engine.outcome import Outcome
from fabro.engine.preamble import build_preamble, resolve_fidelity, resolve_thread, stage_keys
from fabro.engine.state import EngineState
from fabro.workflow.model import Graph
from fabro.workflow.prepare import prepare

# ---- §13 directives -----------------------------------------------------------------------------


def test_last_directive_object_wins() -> None:
    text = (
        'First {"preferred_next_label": "A"} then some prose {"note": 1} and finally\n'
        '```json\n{"preferred_next_label": "B", "outcome": "success"}\n```'
    )
    assert find_directive(text) == {"preferred_next_label": "B", "outcome": "success"}


def test_objects_without_directive_keys_or_invalid_json_are_skipped() -> None:
    assert find_directive('{"note": 1} {not json} {"score": 3}') is None
    assert find_directive('{"outcome": "fail"} {broken: }') == {"outcome": "fail"}
    assert find_directive("no braces at all") is None


def test_braces_inside_json_strings_do_not_unbalance() -> None:
    text = 'Done. {"failure_reason": "missing } in {config", "outcome": "fail", "q": "say \\"}\\""}'
    assert find_directive(text) == {
        "failure_reason": "missing } in {config",
        "outcome": "fail",
        "q": 'say "}"',
    }


def test_nested_objects_are_one_candidate() -> None:
    text = 'x {"context_updates": {"a": {"b": 1}}, "suggested_next_ids": ["n1"]} y'
    assert find_directive(text) == {
        "context_updates": {"a": {"b": 1}},
        "suggested_next_ids": ["n1"],
    }


def test_quotes_outside_objects_are_prose() -> None:
    # An apostrophe or a stray quote in prose must not swallow the directive that follows.
    text = 'It\'s "done" now: {"preferred_next_label": "Ship"}'
    assert find_directive(text) == {"preferred_next_label": "Ship"}


BASE = Outcome.success(
    "Stage completed: s", context_updates={"last_stage": "s"}, suggested_next_ids=["x"]
)


def test_apply_sets_label_ids_and_merges_context() -> None:
    applied = apply_directive(
        BASE,
        {
            "preferred_next_label": "Approve",
            "suggested_next_ids": ["a", "b"],
            "context_updates": {"review": "ok"},
        },
    )
    assert applied.status == "success"
    assert applied.preferred_label == "Approve"
    assert applied.suggested_next_ids == ["a", "b"]
    assert applied.context_updates == {"last_stage": "s", "review": "ok"}
    assert applied.notes == "Stage completed: s"


def test_apply_fail_uses_failure_reason_as_deterministic_failure() -> None:
    applied = apply_directive(
        BASE, {"outcome": "fail", "failure_reason": "tests are red (timeout)"}
    )
    assert applied.status == "fail"
    assert applied.failure is not None
    assert applied.failure.message == "tests are red (timeout)"
    assert applied.failure.failure_class == "deterministic"  # explicit, not derived


@pytest.mark.parametrize("status", ["retry", "partial_success", "skipped", "success"])
def test_apply_other_statuses(status: str) -> None:
    assert apply_directive(BASE, {"outcome": status}).status == status


@pytest.mark.parametrize(
    "directive",
    [
        {"outcome": "maybe"},
        {"suggested_next_ids": []},
        {"suggested_next_ids": "a"},
        {"suggested_next_ids": ["a", 1]},
        {"preferred_next_label": 3},
        {"context_updates": ["a"]},
    ],
)
def test_apply_ignores_malformed_fields(directive: dict[str, object]) -> None:
    assert apply_directive(BASE, directive) == BASE


# ---- §15 fidelity, thread, preamble -------------------------------------------------------------

DOT = """
digraph P {
  graph [goal="Ship it", default_fidelity="truncate", default_thread="main"]
  start [shape=Mdiamond]
  plan [prompt="p", fidelity="summary:low", class="planning"]
  run_tests [shape=parallelogram, script="make test"]
  review [prompt="r", thread_id="rev"]
  exit [shape=Msquare]
  start -> plan -> run_tests
  run_tests -> review [fidelity="full", thread_id="edge"]
  review -> exit
}
"""


def g() -> Graph:
    return prepare(DOT).graph


def test_fidelity_resolution_order() -> None:
    graph = g()
    assert resolve_fidelity(graph, graph.nodes["review"], "full") == "full"
    assert resolve_fidelity(graph, graph.nodes["plan"], "nonsense") == "summary:low"
    assert resolve_fidelity(graph, graph.nodes["review"], None) == "truncate"
    bare = prepare("digraph B { n }").graph
    assert resolve_fidelity(bare, bare.nodes["n"], None) == "compact"


def test_thread_resolution_order() -> None:
    graph = g()
    assert resolve_thread(graph, graph.nodes["review"], "edge", "x") == "rev"
    assert resolve_thread(graph, graph.nodes["plan"], "edge", "x") == "edge"
    assert resolve_thread(graph, graph.nodes["plan"], None, "x") == "main"
    bare = prepare('digraph B { n [class="c1 c2"]\n m }').graph
    assert resolve_thread(bare, bare.nodes["n"], None, "prev") == "c1"
    assert resolve_thread(bare, bare.nodes["m"], None, "prev") == "prev"


def state_after_two_stages(graph: Graph) -> EngineState:
    state = EngineState.fresh(graph, "RUN1", "/w")
    state.completed_nodes = ["start", "plan", "run_tests"]
    state.node_outcomes = {
        "start": {"status": "success"},
        "plan": {
            "status": "success",
            "notes": "Stage completed: plan",
            "usage": {"model": "m1", "input_tokens": 11, "output_tokens": 22},
        },
        "run_tests": {
            "status": "fail",
            "failure": {"message": "exit 1"},
            "files_touched": ["a.py"],
        },
    }
    state.context.update(
        {
            "response.plan": "PLAN " + "p" * 5000,
            "last_response": "L" * 3000,
            "command.output": "o" * 900,
            "outcome": "fail",
            "preferred_label": "x",
            "custom": "v" * 800,
        }
    )
    state.current_node = "run_tests"
    return state


def test_truncate_preamble() -> None:
    assert (
        build_preamble(g(), state_after_two_stages(g()), "truncate")
        == "Goal: Ship it\nRun ID: RUN1"
    )


def test_full_preamble_is_empty() -> None:
    assert build_preamble(g(), state_after_two_stages(g()), "full") == ""


def test_summary_low_lists_stages_without_start_and_exit() -> None:
    text = build_preamble(g(), state_after_two_stages(g()), "summary:low")
    assert text.splitlines()[:4] == [
        "Goal: Ship it",
        "## Completed stages",
        "- **plan**: success",
        "- **run_tests**: fail",
    ]
    assert "start" not in text
    assert "## Context" not in text
    assert "make test" not in text


def test_compact_adds_details_and_filtered_context() -> None:
    text = build_preamble(g(), state_after_two_stages(g()), "compact")
    assert "make test" in text
    assert "o" * 500 in text and "o" * 501 not in text
    assert "m1" in text and "11" in text and "22" in text
    assert "a.py" in text
    context = text.split("## Context", 1)[1]
    assert "custom: " + "v" * 500 in context and "v" * 501 not in context
    for hidden in (
        "response.plan",
        "last_response",
        "outcome:",
        "preferred_label",
        "graph.",
        "internal.",
    ):
        assert hidden not in context


def test_summary_medium_adds_the_previous_response() -> None:
    text = build_preamble(g(), state_after_two_stages(g()), "summary:medium")
    assert "L" * 2000 in text and "L" * 2001 not in text


def test_summary_high_has_stage_sections_and_full_context() -> None:
    text = build_preamble(g(), state_after_two_stages(g()), "summary:high")
    assert "## Stage: plan" in text and "## Stage: run_tests" in text
    assert "Stage completed: plan" in text and "exit 1" in text
    assert "PLAN " + "p" * 3995 in text and "p" * 4000 not in text
    assert "## Stage: start" not in text
    assert "response.plan" in text.split("## Context", 1)[1]


def test_parallel_results_and_parent_sections() -> None:
    state = state_after_two_stages(g())
    state.context["parallel.results"] = [{"id": "b1", "status": "success", "response": "R" * 2500}]
    state.context["internal.parent_preamble"] = "PARENT TEXT"
    text = build_preamble(g(), state, "summary:low")
    assert text.startswith(
        "## Parent workflow context\nPARENT TEXT\n## Current sub-workflow\nGoal: Ship it"
    )
    assert "## Parallel results\n- b1: success\n  " + "R" * 2000 + "\n" not in text  # cut to 2000
    assert "R" * 2000 in text and "R" * 2001 not in text


def test_stage_keys_are_the_engine_keys_and_full_degrades_after_recovery() -> None:
    graph = g()
    state = state_after_two_stages(graph)
    state.node_visits = {"review": 2}
    keys = stage_keys(graph, graph.nodes["review"], state, recovered=False)
    assert keys == {
        "internal.fidelity": "full",  # the incoming edge overrides
        "internal.thread_id": "rev",
        "thread.rev.current_node": "review",
        "internal.node_visit_count": 2,
        "current_node": "review",
    }
    assert state.context.get("current_node") != "review"  # the state is not changed
    keys = stage_keys(graph, graph.nodes["review"], state, recovered=True)
    assert keys["internal.fidelity"] == "summary:high"
    preamble = build_preamble(graph, state, keys["internal.fidelity"])
    assert preamble.startswith("Goal: Ship it\n## Stage: plan")
