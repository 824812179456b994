"""The preamble is kept per run and bounded: cost and bytes per stage do not grow with the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fabro.engine.preamble import (
    PREAMBLE_CONTEXT_KEYS,
    PREAMBLE_STAGES,
    build_preamble,
)
from fabro.engine.state import EngineState
from fabro.storage.db import Database
from fabro.workflow.model import Graph
from fabro.workflow.prepare import prepare
from tests.engine.checkpoint_json import checkpoint_json
from tests.engine.harness import Harness


def linear(stages: int, fidelity: str | None = None) -> str:
    attrs = 'goal="Ship it", max_node_visits=0'
    if fidelity:
        attrs += f', default_fidelity="{fidelity}"'
    names = [f"s{i}" for i in range(stages)]
    return "\n".join(
        [
            "digraph L {",
            f"  graph [{attrs}]",
            "  start [shape=Mdiamond]",
            "  exit [shape=Msquare]",
            *(f'  {name} [prompt="Do {name}"]' for name in names),
            "  " + " -> ".join(["start", *names, "exit"]),
            "}",
        ]
    )


def stored_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


async def run_linear(folder: Path, stages: int) -> tuple[float, int]:
    """Bytes stored per stage (database file and stage folders) and the last preamble's size."""
    db = await Database.open(folder / "fabro.db")
    try:
        harness = Harness(db=db, data_dir=folder / "data")
        record, result = await harness.run(linear(stages))
        assert result.status == "completed", result.error
        prompts = await harness.of(record.id, "Prompt")
        last_preamble = prompts[-1]["text"].removesuffix(f"\n\nDo s{stages - 1}")
    finally:
        await db.close()
    return stored_bytes(folder) / stages, len(last_preamble)


async def test_bytes_per_stage_and_the_preamble_stay_flat_with_the_default_fidelity(
    tmp_path: Path,
) -> None:
    short_bytes, short_preamble = await run_linear(tmp_path / "short", 200)
    long_bytes, long_preamble = await run_linear(tmp_path / "long", 1000)
    assert long_preamble / short_preamble <= 1.2, (short_preamble, long_preamble)
    assert long_bytes / short_bytes <= 1.2, (short_bytes, long_bytes)


def graph(stages: int) -> Graph:
    return prepare(linear(stages)).graph


def completed(state: EngineState, node_id: str, status: str, **updates: Any) -> None:
    """What the runner records when a stage ends (engine.md §6 step 11)."""
    state.completed_nodes.append(node_id)
    outcome: dict[str, Any] = {"status": status, "notes": f"Stage completed: {node_id}"}
    if updates:
        outcome["context_updates"] = updates
    state.node_outcomes[node_id] = outcome
    state.context.update(updates)
    state.context["outcome"] = status


def run_of(stages: int, failed: frozenset[int] = frozenset()) -> tuple[Graph, EngineState]:
    g = graph(stages)
    state = EngineState.fresh(g, "RUN1", "/w")
    completed(state, "start", "success")
    for i in range(stages):
        build_preamble(g, state, "compact")  # before each stage, as the engine does
        status = "fail" if i in failed else "success"
        completed(state, f"s{i}", status, **{f"response.s{i}": f"R{i}", "last_stage": f"s{i}"})
    return g, state


def test_a_long_run_lists_the_last_stages_and_counts_the_earlier_ones() -> None:
    g, state = run_of(PREAMBLE_STAGES + 30, failed=frozenset({3, 7}))
    text = build_preamble(g, state, "summary:low")
    lines = text.splitlines()
    assert lines[:3] == [
        "Goal: Ship it",
        "## Completed stages",
        "- 30 earlier stages not listed (28 success, 2 fail)",
    ]
    listed = [line for line in lines if line.startswith("- **")]
    assert len(listed) == PREAMBLE_STAGES
    assert (
        listed[0] == "- **s30**: success"
        and listed[-1] == f"- **s{PREAMBLE_STAGES + 29}**: success"
    )


def test_a_short_run_lists_every_stage_without_a_count() -> None:
    g, state = run_of(3)
    assert build_preamble(g, state, "summary:low").splitlines() == [
        "Goal: Ship it",
        "## Completed stages",
        "- **s0**: success",
        "- **s1**: success",
        "- **s2**: success",
    ]


def test_each_visit_keeps_the_status_it_ended_with() -> None:
    g = graph(1)
    state = EngineState.fresh(g, "RUN1", "/w")
    completed(state, "s0", "fail")
    build_preamble(g, state, "summary:low")
    completed(state, "s0", "success")
    lines = build_preamble(g, state, "summary:low").splitlines()
    assert lines[2:] == ["- **s0**: fail", "- **s0**: success"]


def test_summary_high_keeps_a_bounded_number_of_sections_and_context_keys() -> None:
    g, state = run_of(PREAMBLE_STAGES + 30)
    text = build_preamble(g, state, "summary:high")
    assert text.count("## Stage: ") == PREAMBLE_STAGES
    assert "30 earlier stages not listed (30 success)" in text
    context = text.split("## Context", 1)[1].splitlines()
    keys = [line for line in context if line.startswith("- ")]
    assert len(keys) == PREAMBLE_CONTEXT_KEYS
    assert f"- response.s{PREAMBLE_STAGES + 29}: R{PREAMBLE_STAGES + 29}" in keys  # the latest
    assert "- response.s0: R0" not in keys
    assert context[-1] == f"(the {PREAMBLE_CONTEXT_KEYS} most recently set keys)"


def test_the_log_starts_again_after_a_loop_restart_and_after_a_recovery() -> None:
    g, state = run_of(PREAMBLE_STAGES + 5)
    state.completed_nodes = []  # a loop restart replaces the list (engine.md §6 step 14)
    completed(state, "s0", "success")
    assert build_preamble(g, state, "summary:low").splitlines()[2:] == ["- **s0**: success"]

    g, state = run_of(PREAMBLE_STAGES + 5)
    recovered = EngineState.from_checkpoint(checkpoint_json(state, "2026-01-01T00:00:00Z"))
    text = build_preamble(g, recovered, "summary:low")
    assert text == build_preamble(g, state, "summary:low")
    assert "- 5 earlier stages not listed (5 success)" in text


def test_compact_context_shows_keys_the_stages_set_after_the_log_started() -> None:
    g, state = run_of(2)
    completed(state, "s0", "success", **{"review.score": 7, "response.s0": "hidden"})
    context = build_preamble(g, state, "compact").split("## Context", 1)[1]
    assert "- review.score: 7" in context
    assert "response." not in context and "last_stage" not in context
