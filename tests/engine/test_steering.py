"""Steering between stages (engine.md §9.9): read only when some may be pending."""

from __future__ import annotations

import pytest

from fabro.clock import now_ts
from fabro.engine.handlers import HANDLERS
from fabro.engine.outcome import Outcome
from fabro.engine.stage import StageRun
from fabro.storage.sqlite_store import SqliteStore
from fabro.storage.steering import SteeringRecord
from fabro.workflow.model import Node
from tests.engine.harness import ByNode, Harness

FOUR = """digraph W {
  start [shape=Mdiamond]
  exit [shape=Msquare]
  a [prompt="A"]
  b [prompt="B"]
  c [prompt="C"]
  d [prompt="D"]
  start -> a -> b -> c -> d -> exit
}"""


async def test_a_run_reads_steering_again_only_once_some_was_added(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []
    real_read = SqliteStore.pending_steering

    async def counted(store: SqliteStore, run_id: str) -> list[SteeringRecord]:
        found = await real_read(store, run_id)
        reads.append(len(found))
        return found

    monkeypatch.setattr(SqliteStore, "pending_steering", counted)

    async def steer_then_run(node: Node, stage: StageRun) -> Outcome:
        await SqliteStore(harness.db).add_steering(
            run_id=stage.run_id,
            guidance="Use tabs",
            location=None,
            created_by="alice",
            created_at=now_ts(),
        )
        return await HANDLERS["agent"](node, stage)

    run, result = await harness.run(FOUR, handlers=ByNode(c=steer_then_run).handlers)
    assert result.status == "completed", result.error
    # a: nothing pending (remembered); b: nothing added since, no read; c: added, read and
    # consumed; d: read again (what c consumed is gone), nothing pending.
    assert reads == [0, 1, 0]
    prompts = {e["stage"]: e["text"] for e in await harness.of(run.id, "Prompt")}
    assert "## Steering\n- Use tabs" in prompts["c"]
    assert "Steering" not in prompts["b"] + prompts["d"]
