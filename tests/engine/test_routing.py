"""Pure routing decisions (workflow-language.md §12): edge selection, retries, failures, gates."""

from __future__ import annotations

import random
from typing import Any

import pytest

from fabro.engine.failure import (
    classify_message,
    effective_class,
    normalize_reason,
    parse_class,
    signature,
)
from fabro.engine.handlers.fan_in import heuristic_choice
from fabro.engine.handlers.parallel import join_satisfied
from fabro.engine.outcome import Outcome
from fabro.engine.retry import PRESETS, RetryPolicy, asks_for_retries, policy_for
from fabro.engine.routing import (
    fails_closed,
    parallel_join_target,
    retry_target,
    select_edge,
    stage_id,
    stranded_failure,
    unsatisfied_goal_gate,
    visit_limit_error,
)
from fabro.workflow.model import Graph
from fabro.workflow.prepare import prepare


def graph(body: str, attrs: str = "") -> Graph:
    """A graph from DOT statements (validation is not required for pure decisions)."""
    return prepare(f"digraph G {{ {attrs}\n{body}\n}}").graph


def target(
    g: Graph, outcome: Outcome, context: dict[str, Any] | None = None, node: str = "n"
) -> str | None:
    edge = select_edge(g, node, outcome, context or {})
    return edge.target if edge else None


OK = Outcome.success()


# ---- §12.1 edge selection, step by step ---------------------------------------------------------


def test_no_outgoing_edges_selects_nothing() -> None:
    assert select_edge(graph("n; m; m -> n"), "n", OK, {}) is None


def test_true_conditions_win_over_everything_else() -> None:
    g = graph('n -> a [label="Approve"]\nn -> b [condition="outcome=success"]\nn -> c [weight=9]\n')
    assert target(g, Outcome.success(preferred_label="Approve", suggested_next_ids=["c"])) == "b"


def test_true_conditions_pick_the_highest_weight() -> None:
    g = graph(
        'n -> a [condition="outcome=success", weight=1]\n'
        'n -> b [condition="outcome=success", weight=5]\n'
        'n -> c [condition="outcome=fail", weight=9]\n'
        "n -> d\n"
    )
    assert target(g, OK) == "b"


def test_true_conditions_tie_to_the_smallest_target() -> None:
    g = graph(
        'n -> zeta [condition="outcome=success", weight=2]\n'
        'n -> alpha [condition="outcome=success", weight=2]\n'
        "n -> d [weight=50]\n"
    )
    assert target(g, OK) == "alpha"


def test_conditions_read_context_and_preferred_label() -> None:
    g = graph(
        'n -> a [condition="tests=passed && preferred_label=ship"]\n'
        'n -> b [condition="context.tests=failed"]\n'
        "n -> c\n"
    )
    assert target(g, Outcome.success(preferred_label="ship"), {"tests": "passed"}) == "a"
    assert target(g, Outcome.success(preferred_label="other"), {"tests": "passed"}) == "c"
    assert target(g, OK, {"tests": "failed"}) == "b"


def test_unparseable_condition_at_run_time_is_false() -> None:
    g = graph('n -> a [condition="x = = y"]\nn -> b\n')
    assert target(g, OK) == "b"


@pytest.mark.parametrize(
    ("edge_label", "preferred"),
    [
        ("Approve", "approve"),
        ("  Approve  ", "APPROVE"),
        ("[A] Approve", "approve"),
        ("[A]    Approve", "[x] approve"),
        ("A) Approve", "approve"),
        ("A - Approve", "Approve"),
        ("[Accept it] Approve", "  approve "),
    ],
)
def test_preferred_label_matches_after_normalisation(edge_label: str, preferred: str) -> None:
    g = graph(f'n -> other [weight=10]\nn -> yes [label="{edge_label}"]\n')
    assert target(g, Outcome.success(preferred_label=preferred)) == "yes"


def test_preferred_label_strips_only_one_accelerator_form() -> None:
    # `Approve` is not `AB) Approve` normalised: `)` is not the second character.
    g = graph('n -> yes [label="AB) Approve"]\nn -> other [weight=10]\n')
    assert target(g, Outcome.success(preferred_label="Approve")) == "other"
    assert target(g, Outcome.success(preferred_label="ab) approve")) == "yes"


def test_preferred_label_takes_the_first_edge_in_source_order_including_conditional() -> None:
    g = graph(
        'n -> b [label="Go", condition="outcome=fail"]\nn -> a [label="go"]\nn -> c [weight=3]\n'
    )
    assert target(g, Outcome.success(preferred_label="GO")) == "b"


def test_suggested_ids_in_order_then_first_edge_to_that_target() -> None:
    g = graph('n -> a [condition="outcome=fail"]\nn -> b\nn -> c [weight=7]\n')
    assert target(g, Outcome.success(suggested_next_ids=["missing", "a", "b"])) == "a"
    assert target(g, Outcome.success(preferred_label="nope", suggested_next_ids=["b"])) == "b"


def test_unconditional_edges_highest_weight_then_smallest_target() -> None:
    g = graph(
        'n -> x [condition="outcome=fail", weight=100]\n'
        "n -> m [weight=2]\n"
        "n -> k [weight=2]\n"
        "n -> a [weight=1]\n"
    )
    assert target(g, OK) == "k"


def test_empty_condition_counts_as_unconditional() -> None:
    g = graph('n -> b [condition="", weight=1]\nn -> a\n')
    assert target(g, OK) == "b"


def test_fallback_among_all_edges_when_no_condition_holds() -> None:
    g = graph(
        'n -> c [condition="outcome=fail", weight=1]\n'
        'n -> b [condition="outcome=fail", weight=4]\n'
        'n -> a [condition="outcome=fail", weight=4]\n'
    )
    assert target(g, OK) == "a"


# ---- human gates fail closed (engine.md §9.4) ---------------------------------------------------

UNANSWERED = Outcome.fail("human gate 'n' got no answer (stdin closed)")


def test_a_failed_gate_never_takes_an_ordinary_edge() -> None:
    g = graph('n [shape=hexagon]\nn -> a [label="[A] Approve"]\nn -> b [weight=9]\n')
    assert fails_closed(g.nodes["n"], UNANSWERED)
    assert target(g, UNANSWERED) is None  # not the unconditional edge, not the fallback
    assert stranded_failure(g.nodes["n"], UNANSWERED) == UNANSWERED.failure_message


def test_a_failed_gate_takes_only_an_edge_that_holds_because_it_failed() -> None:
    g = graph(
        "n [shape=hexagon]\nn -> a\n"
        'n -> b [condition="context.env=prod"]\n'  # true, but not because of the failure
        'n -> c [condition="outcome!=success"]\n'
        'n -> d [condition="outcome=fail && context.env=prod", weight=2]\n'
    )
    assert target(g, UNANSWERED, {"env": "prod"}) == "d"
    assert target(g, UNANSWERED, {"env": "dev"}) == "c"


def test_other_failures_and_answered_gates_route_as_before() -> None:
    g = graph("n [shape=hexagon]\nm\nn -> a\nm -> a\n")
    answered = Outcome.success(preferred_label="a")
    assert not fails_closed(g.nodes["n"], answered) and target(g, answered) == "a"
    assert not fails_closed(g.nodes["m"], UNANSWERED)
    assert target(g, UNANSWERED, node="m") == "a"  # §12.4: a failed stage follows its edges
    assert stranded_failure(g.nodes["m"], UNANSWERED) == "stage m failed with no outgoing fail edge"


# ---- §12.2 retries ------------------------------------------------------------------------------


def test_only_a_node_of_its_own_asks_for_retries() -> None:
    g = graph(
        'a [max_retries=2]\nb [retry_policy="linear"]\nc [retry_policy="bogus"]\nd\n'
        "e [max_retries=0]",
        "default_max_retry=5",
    )
    asked = {node: asks_for_retries(g.nodes[node]) for node in "abcde"}
    assert asked == {"a": True, "b": True, "c": False, "d": False, "e": True}


@pytest.mark.parametrize(
    ("preset", "attempts", "initial", "factor"),
    [
        ("none", 1, None, None),
        ("standard", 5, 5000, 2),
        ("aggressive", 5, 500, 2),
        ("linear", 3, 500, 1),
        ("patient", 3, 2000, 3),
    ],
)
def test_presets(preset: str, attempts: int, initial: int | None, factor: int | None) -> None:
    g = graph(f'n [retry_policy="{preset}", max_retries=9]')
    policy = policy_for(g, g.nodes["n"])
    assert policy.attempts == attempts
    if initial is not None:
        assert (policy.initial_delay_ms, policy.factor) == (initial, factor)
    assert PRESETS[preset] == policy


def test_default_policy_is_max_retries_plus_one() -> None:
    g = graph(
        'n [max_retries=0]\nm\nk [retry_policy="bogus", max_retries=2]', "default_max_retry=6"
    )
    assert policy_for(g, g.nodes["n"]).attempts == 1
    assert policy_for(g, g.nodes["m"]) == RetryPolicy(7, 5000, 2)
    assert policy_for(g, g.nodes["k"]).attempts == 3  # unknown preset ignored
    assert policy_for(graph("m"), graph("m").nodes["m"]).attempts == 4


@pytest.mark.parametrize(
    ("policy", "attempt", "base_ms"),
    [
        (RetryPolicy(5, 5000, 2), 1, 5000),
        (RetryPolicy(5, 5000, 2), 2, 10_000),
        (RetryPolicy(5, 5000, 2), 4, 40_000),
        (RetryPolicy(5, 5000, 2), 5, 60_000),  # 80 s capped
        (RetryPolicy(3, 500, 1), 3, 500),
        (RetryPolicy(3, 2000, 3), 3, 18_000),
        (RetryPolicy(9, 2000, 3), 5, 60_000),  # 162 s capped
    ],
)
def test_delay_formula_with_seeded_jitter(policy: RetryPolicy, attempt: int, base_ms: int) -> None:
    expected_factor = random.Random(42).uniform(0.5, 1.5)
    assert policy.delay_ms(attempt, random.Random(42)) == int(base_ms * expected_factor)


def test_jitter_stays_in_half_open_range() -> None:
    rng = random.Random(3)
    delays = [RetryPolicy(5, 1000, 2).delay_ms(1, rng) for _ in range(500)]
    assert min(delays) >= 500
    assert max(delays) < 1500
    assert max(delays) - min(delays) > 800  # really random


# ---- §12.7 failure classes and signatures -------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Operation was Cancelled by user", "canceled"),
        ("request aborted", "canceled"),
        ("cancel after timeout", "canceled"),  # first matching group wins
        ("Script timed out after 10ms: x", "transient_infra"),
        ("HTTP 503 Service Unavailable", "transient_infra"),
        ("dial tcp 10.0.0.1: connect: ECONNREFUSED", "transient_infra"),
        ("rename: Invalid cross-device link (os error 18)", "transient_infra"),
        ("Rate limit hit, try again", "transient_infra"),
        ("Agent turn limit reached (5 turns)", "budget_exhausted"),
        ("prompt exceeds context length", "budget_exhausted"),
        ("Quota exceeded for model", "budget_exhausted"),
        ("write_scope_violation: src/x", "structural"),
        ("Scope violation detected", "structural"),
        ("Script failed with exit code: 1", "deterministic"),
        ("", "deterministic"),
    ],
)
def test_classify_message(message: str, expected: str) -> None:
    assert classify_message(message) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("transient_infra", "transient_infra"),
        ("  Transient ", "transient_infra"),
        ("retryable", "transient_infra"),
        ("CANCELLED", "canceled"),
        ("canceled", "canceled"),
        ("permanent", "deterministic"),
        ("budget", "budget_exhausted"),
        ("compilation_loop", "compilation_loop"),
        ("structural", "structural"),
        ("weird", "deterministic"),
    ],
)
def test_parse_class_is_lenient(text: str, expected: str) -> None:
    assert parse_class(text) == expected


def test_explicit_class_beats_the_message() -> None:
    assert effective_class("permanent", "connection refused") == "deterministic"
    assert effective_class(None, "connection refused") == "transient_infra"
    assert Outcome.fail("connection refused").failure is not None
    assert Outcome.fail("x", "retryable").failure.failure_class == "transient_infra"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("reason", "normalized"),
    [
        ("  Build FAILED  ", "build failed"),
        ("commit deadbeef1234 broke it", "commit <hex> broke it"),
        ("exit code 137 after 12 tries", "exit code <n> after <n> tries"),
        ("abc1234", "<hex>"),
        ("abc123", "abc123"),  # too short for hex, not a number
        ("files a,   b,\tc", "files a,b,c"),
        ("line one\n\n  line   two", "line one line two"),
        ("   ", "unknown"),
        ("", "unknown"),
    ],
)
def test_normalize_reason(reason: str, normalized: str) -> None:
    assert normalize_reason(reason) == normalized


def test_signature_shape_and_cut() -> None:
    assert signature("fix", "deterministic", "Exit code: 2") == "fix|deterministic|exit code: <n>"
    long = signature("n", "deterministic", "x" * 1000)
    assert long == "n|deterministic|" + "x" * 240


# ---- §12.3 goal gates and retry targets ---------------------------------------------------------

GATES = """
a [goal_gate=true, retry_target="fix"]
b [goal_gate=true]
c
fix
"""


def test_no_unsatisfied_gate_when_gates_succeeded_or_never_ran() -> None:
    g = graph(GATES)
    outcomes = {
        "a": {"status": "success"},
        "b": {"status": "partial_success"},
        "c": {"status": "fail"},
    }
    assert unsatisfied_goal_gate(g, ["a", "b", "c"], outcomes) is None
    assert unsatisfied_goal_gate(g, [], {}) is None


def test_first_unsatisfied_gate_in_order_of_first_completion() -> None:
    g = graph(GATES)
    outcomes = {"a": {"status": "fail"}, "b": {"status": "retry"}}
    gate = unsatisfied_goal_gate(g, ["b", "a", "b"], outcomes)
    assert gate is not None and gate.id == "b"
    # the latest outcome counts
    assert unsatisfied_goal_gate(g, ["a"], {"a": {"status": "success"}}) is None


@pytest.mark.parametrize(
    ("node_attrs", "graph_attrs", "expected"),
    [
        ('retry_target="fix", fallback_retry_target="c"', 'retry_target="c"', "fix"),
        ('retry_target="gone", fallback_retry_target="c"', 'retry_target="fix"', "c"),
        ('retry_target="gone"', 'retry_target="fix", fallback_retry_target="c"', "fix"),
        ("", 'retry_target="gone", fallback_retry_target="c"', "c"),
        ("", "", None),
        ('fallback_retry_target="gone"', 'fallback_retry_target="gone2"', None),
    ],
)
def test_retry_target_first_existing(
    node_attrs: str, graph_attrs: str, expected: str | None
) -> None:
    g = graph(f"n [{node_attrs}]\nc\nfix", f"graph [{graph_attrs}]" if graph_attrs else "")
    assert retry_target(g, g.nodes["n"]) == expected


# ---- §12.5 visit limits -------------------------------------------------------------------------


def test_node_limit_counts_the_refused_entry() -> None:
    g = graph("n [max_visits=3]")
    node = g.nodes["n"]
    assert visit_limit_error(g, node, 2, simulated=False) is None
    assert visit_limit_error(g, node, 3, simulated=False) == (
        'node "n" visited 3 times (node limit 3); run is stuck in a cycle'
    )


def test_node_limit_replaces_the_graph_limit() -> None:
    g = graph("n [max_visits=5]", "max_node_visits=2")
    assert visit_limit_error(g, g.nodes["n"], 4, simulated=True) is None


def test_graph_limit() -> None:
    g = graph("n", "max_node_visits=4")
    assert visit_limit_error(g, g.nodes["n"], 3, simulated=False) is None
    assert visit_limit_error(g, g.nodes["n"], 4, simulated=False) == (
        'node "n" visited 4 times (graph limit 4); run is stuck in a cycle'
    )


def test_simulated_default_graph_limit_is_ten_and_off_otherwise() -> None:
    g = graph("n")
    node = g.nodes["n"]
    assert visit_limit_error(g, node, 9, simulated=True) is None
    assert visit_limit_error(g, node, 10, simulated=True) == (
        'node "n" visited 10 times (graph limit 10); run is stuck in a cycle'
    )
    assert visit_limit_error(g, node, 1000, simulated=False) is None
    explicit_off = graph("n", "max_node_visits=0")
    assert visit_limit_error(explicit_off, explicit_off.nodes["n"], 1000, simulated=True) is None


# ---- small pieces -------------------------------------------------------------------------------


def test_stage_ids() -> None:
    assert stage_id("plan", 1) == "plan"
    assert stage_id("plan", 3) == "plan-visit_3"


def test_parallel_join_target_is_the_smallest_common_successor() -> None:
    g = graph("a -> z\na -> m\nb -> m\nb -> z\nc -> q")
    assert parallel_join_target(g, ["a", "b"]) == "m"
    assert parallel_join_target(g, ["a", "c"]) is None


@pytest.mark.parametrize(
    ("policy", "successes", "total", "expected"),
    [
        ("wait_all", 1, 3, None),
        ("first_success", 1, 3, True),
        ("first_success", 0, 3, False),
        ("k_of_n(2)", 2, 3, True),
        ("k_of_n(2)", 1, 3, False),
        ("quorum(0.5)", 2, 3, True),  # ceil(1.5) = 2
        ("quorum(0.5)", 1, 3, False),
        ("quorum(.75)", 3, 4, True),
        ("k_of_n(x)", 0, 3, None),  # unparseable means wait_all
    ],
)
def test_join_policies(policy: str, successes: int, total: int, expected: bool | None) -> None:
    assert join_satisfied(policy, successes, total) is expected


def test_fan_in_heuristic_ranking() -> None:
    results = [
        {"id": "c", "status": "partial_success"},
        {"id": "b", "status": "success", "score": 1},
        {"id": "a", "status": "success", "score": 3},
        {"id": "d", "status": "fail", "score": 99},
    ]
    assert heuristic_choice(results)["id"] == "a"
    assert heuristic_choice(results[:1] + results[3:])["id"] == "c"
    assert (
        heuristic_choice([{"id": "z", "status": "retry"}, {"id": "y", "status": "fail"}])["id"]
        == "z"
    )
    assert (
        heuristic_choice([{"id": "b", "status": "success"}, {"id": "a", "status": "success"}])["id"]
        == "a"
    )


def test_an_outcome_with_changes_is_a_copy_and_refuses_unknown_fields() -> None:
    outcome = Outcome.success("done", context_updates={"a": 1})
    changed = outcome.with_(duration_ms=5, notes="again")
    assert changed == Outcome.success("again", context_updates={"a": 1}, duration_ms=5)
    assert outcome.duration_ms is None and outcome.notes == "done"
    with pytest.raises(TypeError, match="nope"):
        outcome.with_(nope=1)
