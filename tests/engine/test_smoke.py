from __future__ import annotations

from tests.engine.harness import Harness

LINEAR = """
digraph Simple {
  graph [goal="Say hi"]
  start [shape=Mdiamond]
  work [label="Work", prompt="Do $goal"]
  exit [shape=Msquare]
  start -> work -> exit
}
"""


async def test_dry_run_sequence_matches_the_spec(harness: Harness) -> None:
    run, result = await harness.run(LINEAR)
    assert result.status == "completed", result.error
    assert run.status == "completed"
    assert await harness.variants(run.id) == [
        "RunQueued", "WorkflowRunStarted",
        "StageStarted", "StageCompleted", "EdgeSelected", "CheckpointSaved",
        "StageStarted", "Prompt", "Agent", "Agent", "Agent",
        "StageCompleted", "EdgeSelected", "CheckpointSaved",
        "StageStarted", "StageCompleted", "WorkflowRunCompleted",
    ]  # fmt: skip
