"""The parse benchmark's generated workflow is valid (the timing itself runs in scripts/bench)."""

from __future__ import annotations

from bench.parse import generate_workflow
from fabro.workflow.prepare import prepare


def test_generated_workflow_is_valid() -> None:
    prepared = prepare(generate_workflow(200))
    assert prepared.ok, prepared.error_summary()
    assert len(prepared.graph.nodes) == 200
