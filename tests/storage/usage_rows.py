"""Runs and stages with usage, whose roll-ups the storage and API tests compute by hand.

| run | workflow | user  | started           | stage | model | counted at        | in | out | cost |
|-----|----------|-------|-------------------|-------|-------|-------------------|----|-----|------|
| R1  | fix      | alice | 12-01 09:00       | a     | m1    | 12-01 10:00       | 10 | 1   | 1.0  |
| R1  |          |       |                   | b     | m2    | 12-02 23:59:59.999| 20 | 2   | 2.0  |
| R2  | (pasted) | bob   | 12-02 08:00       | c     | m1    | 12-02 00:00       | 40 | 4   | 4.0  |
| R2  |          |       |                   | d     | none  | 12-02 00:00       | -  | -   | 8.0  |
| R3  | fix      | bob   | 12-03 12:00       | e     | m1    | 12-03 12:30       | 80 | 8   | 16.0 |
| R4  | (pasted) | -     | queued            |       |       |                   |    |     |      |

Every stage with a model runs 100 ms; d has no model, so it is no usage.
"""

from __future__ import annotations

import dataclasses

from fabro.storage.records import NewEvent
from fabro.storage.stages import StageFinish, StageRecord
from fabro.storage.store import Store
from tests.storage.rows import make_run

DAY = "2026-12-0{}T{}Z"


def _queued(position: int) -> NewEvent:
    return NewEvent.of({"RunQueued": {"queue_position": position}})


async def seed_usage(store: Store) -> None:
    runs = [
        ("R1", "fix", "alice", DAY.format(1, "09:00:00.000")),
        ("R2", None, "bob", DAY.format(2, "08:00:00.000")),
        ("R3", "fix", "bob", DAY.format(3, "12:00:00.000")),
        ("R4", None, None, None),
    ]
    for run_id, slug, user, started in runs:
        record = dataclasses.replace(make_run(run_id), workflow_slug=slug, created_by=user)
        await store.create_run(record, _queued)
        if started is not None:
            changes = {"status": "running", "started_at": started, "updated_at": started}
            await store.move_run(run_id, ["queued"], **changes)
    stages = [
        ("R1", "a", "m1", DAY.format(1, "10:00:00.000"), 10, 1, 1.0),
        ("R1", "b", "m2", DAY.format(2, "23:59:59.999"), 20, 2, 2.0),
        ("R2", "c", "m1", DAY.format(2, "00:00:00.000"), 40, 4, 4.0),
        ("R2", "d", None, DAY.format(2, "00:00:00.000"), 0, 0, 8.0),
        ("R3", "e", "m1", DAY.format(3, "12:30:00.000"), 80, 8, 16.0),
    ]
    for run_id, stage, model, finished, tokens_in, tokens_out, cost in stages:
        row = StageRecord(run_id, stage, stage, stage, 1, 0, "running", finished)
        usage = {"input_tokens": tokens_in, "output_tokens": tokens_out}
        done = StageFinish("completed", finished, 100, 1, {}, model, usage, cost)
        await store.commit(store.start_stage(row, done))
