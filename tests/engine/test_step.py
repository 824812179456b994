"""The engine's decisions as plain functions (engine/step.py): no SQLite, no event loop."""

from __future__ import annotations

from fabro.engine import step
from fabro.engine.delta import StateDelta
from fabro.engine.outcome import Outcome
from fabro.engine.state import EngineState
from fabro.events.types import EdgeSelected, FailureDetail
from fabro.workflow.model import Graph
from fabro.workflow.prepare import prepare


def graph(body: str, attrs: str = "") -> Graph:
    return prepare(f"digraph G {{ {attrs}\n{body}\n}}").graph


def fresh(g: Graph) -> EngineState:
    return EngineState.fresh(g, "R1", "/work")


def failing(message: str = "boom", failure_class: str = "deterministic") -> Outcome:
    return Outcome(
        status="fail", failure=FailureDetail(message=message, failure_class=failure_class)
    )


LINE = """
start [shape=Mdiamond]
a [shape=box]
b [shape=box]
exit [shape=Msquare]
start -> a
a -> b [condition="outcome=success"]
a -> exit [condition="outcome=fail"]
b -> exit
"""


def test_a_stage_records_its_outcome_in_one_delta_and_follows_the_matching_edge() -> None:
    g = graph(LINE)
    state = fresh(g)
    outcome = Outcome.success(context_updates={"x": 1}, preferred_label="go")
    end = step.after_stage(g, state, g.nodes["a"], outcome, attempts=2)
    assert end.target == "b" and end.failure is None and end.restart is None
    assert end.events == (
        EdgeSelected(from_node="a", to_node="b", label=None, condition="outcome=success"),
    )
    assert end.delta.lists == {"completed_nodes": ["a"]}
    assert end.delta.maps["node_retries"] == {"a": 2}
    assert end.delta.maps["node_outcomes"]["a"]["status"] == "success"
    assert list(end.delta.maps["context_values"]) == [
        "internal.retry_count.a",
        "x",
        "outcome",
        "failure_class",
        "failure_signature",
        "preferred_label",
    ]
    assert "x" not in state.context  # the state is only read


def test_conditions_see_the_stages_own_context_updates() -> None:
    g = graph(
        'a [shape=box]\nb [shape=box]\nc [shape=box]\na -> b [condition="context.flag=yes"]\na -> c'
    )
    state = fresh(g)
    end = step.after_stage(
        g, state, g.nodes["a"], Outcome.success(context_updates={"flag": "yes"}), 1
    )
    assert end.target == "b"


def test_jump_to_node_wins_over_edges() -> None:
    g = graph(LINE)
    outcome = Outcome(status="success", jump_to_node="exit")
    end = step.after_stage(g, fresh(g), g.nodes["a"], outcome, 1)
    assert end.target == "exit"
    assert end.events[0].to_node == "exit"  # type: ignore[attr-defined]


def test_a_dead_end_completes_and_a_stranded_failure_fails_after_recording() -> None:
    g = graph("a [shape=box]")
    success = step.after_stage(g, fresh(g), g.nodes["a"], Outcome.success(), 1)
    assert success.target is None and success.failure is None
    failed = step.after_stage(g, fresh(g), g.nodes["a"], failing(), 1)
    assert failed.target is None and failed.recorded
    assert failed.failure == step.RunFailure("stage a failed with no outgoing fail edge")
    assert failed.delta.lists == {"completed_nodes": ["a"]}  # recorded first


def test_a_failure_without_an_edge_goes_to_the_retry_target() -> None:
    g = graph("a [shape=box, retry_target=b]\nb [shape=box]")
    end = step.after_stage(g, fresh(g), g.nodes["a"], failing(), 1)
    assert end.target == "b" and end.failure is None


def test_the_circuit_breaker_counts_signatures_and_fires_before_recording() -> None:
    g = graph("a [shape=box]\na -> a", attrs="graph [loop_restart_signature_limit=3]")
    state = fresh(g)
    for count in (1, 2):
        end = step.after_stage(g, state, g.nodes["a"], failing(), 1)
        assert end.target == "a"
        assert list(end.delta.maps["loop_failure_signatures"].values()) == [count]
        state.apply(end.delta)
    end = step.after_stage(g, state, g.nodes["a"], failing(), 1)
    assert not end.recorded and end.failure is not None
    assert "repeated 3 times (limit 3)" in end.failure.message
    assert not end.delta  # nothing recorded


def test_transient_failures_do_not_trip_the_breaker() -> None:
    g = graph("a [shape=box]\na -> a", attrs="graph [loop_restart_signature_limit=2]")
    state = fresh(g)
    for _ in range(3):
        end = step.after_stage(g, state, g.nodes["a"], failing(failure_class="transient_infra"), 1)
        assert end.failure is None
        state.apply(end.delta)


def test_a_loop_restart_needs_a_transient_failure_and_has_its_own_breaker() -> None:
    g = graph(
        'a [shape=box]\nb [shape=box]\na -> b [loop_restart=true, condition="outcome=fail"]',
        attrs="graph [loop_restart_signature_limit=2]",
    )
    state = fresh(g)
    blocked = step.after_stage(g, state, g.nodes["a"], failing(), 1)
    assert isinstance(blocked.restart, step.RunFailure)
    assert "loop_restart blocked: failure_class=deterministic" in blocked.restart.message
    transient = failing(failure_class="transient_infra")
    first = step.after_stage(g, state, g.nodes["a"], transient, 1)
    assert isinstance(first.restart, StateDelta)
    assert list(first.restart.maps["restart_failure_signatures"].values()) == [1]
    state.apply(first.restart)
    second = step.after_stage(g, state, g.nodes["a"], transient, 1)
    assert isinstance(second.restart, step.RunFailure)
    assert "loop_restart circuit breaker" in second.restart.message
    ok = step.after_stage(g, fresh(g), g.nodes["a"], Outcome.success(), 1)
    assert ok.restart == StateDelta()  # a restart with no failure signature to count


def test_entering_a_node_counts_the_visit_and_checks_the_limit() -> None:
    g = graph("a [shape=box, max_visits=2]")
    state = fresh(g)
    first = step.enter(g, state, g.nodes["a"], simulated=False)
    assert (first.visits, first.failure) == (1, None)
    assert first.delta.maps == {"node_visits": {"a": 1}}
    state.apply(first.delta)
    second = step.enter(g, state, g.nodes["a"], simulated=False)
    assert second.visits == 2 and second.failure is not None
    assert "visited 2 times (node limit 2)" in second.failure.message


def test_an_unsatisfied_goal_gate_jumps_to_its_retry_target_or_fails() -> None:
    g = graph("gate [shape=box, goal_gate=true, retry_target=fix]\nfix [shape=box]")
    state = fresh(g)
    assert step.goal_gate_jump(g, state) is None  # nothing ran
    state.apply(StateDelta.of(completed="gate", node_outcomes={"gate": {"status": "fail"}}))
    assert step.goal_gate_jump(g, state) == "fix"
    bare = graph("gate [shape=box, goal_gate=true]")
    state = fresh(bare)
    state.apply(StateDelta.of(completed="gate", node_outcomes={"gate": {"status": "fail"}}))
    assert step.goal_gate_jump(bare, state) == step.RunFailure(
        "goal gate unsatisfied for node gate and no retry target"
    )


def test_a_pattern_condition_is_known_to_take_time() -> None:
    g = graph('a [shape=box]\nb [shape=box]\na -> b [condition="context.x matches \\"a+\\""]')
    assert step.conditions_may_take_time(g, g.nodes["a"])
    assert not step.conditions_may_take_time(graph(LINE), graph(LINE).nodes["a"])
