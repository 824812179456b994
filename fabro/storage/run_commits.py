"""The run recorder's writes: a ``RunCommit`` as one guarded write, and a run's end.

Each runs inside the writer's transaction (``SqliteStore.run_commit`` and ``finish_run``
hand them to the recorder as ``Write`` values).
"""

from __future__ import annotations

import json

from fabro.storage import checkpoints, events, questions, runs, stages
from fabro.storage.records import EventRecord
from fabro.storage.stages import StageFinish, StageRecord
from fabro.storage.store import ACTIVE, RunCommit, RunNotActive
from fabro.storage.writer import WriteTx

# The guard of every recorder commit, with the run's last event sequence (one statement).
GUARD = (
    "SELECT status, (SELECT COALESCE(MAX(seq), 0) FROM run_events WHERE run_id = ?)"
    " FROM runs WHERE id = ?"
)


def run_commit(tx: WriteTx, *, run_id: str, commit: RunCommit) -> list[EventRecord]:
    """``commit`` stored whole, or refused (``RunNotActive``) once the run is not active;
    its events come back with their sequence numbers."""
    row = tx.fetchone(GUARD, [run_id, run_id])
    if row is None or row[0] not in ACTIVE:
        raise RunNotActive(run_id)
    for write in commit.writes:
        write(tx)
    if commit.turns:
        stages.insert_turns(
            tx,
            [
                (
                    run_id,
                    turn.stage_id,
                    turn.n,
                    turn.kind,
                    turn.content,
                    None if turn.tools is None else json.dumps(turn.tools, ensure_ascii=False),
                    turn.created_at,
                )
                for turn in commit.turns
            ],
        )
    if commit.node is not None:
        node_id, ts = commit.node
        runs.update_run(tx, run_id, current_node=node_id, updated_at=ts)
    update = commit.checkpoint
    if update is not None:
        checkpoints.save(
            tx, run_id, update.changes, update.ts, update.current_node, update.next_node_id
        )
    return events.append_events(tx, run_id, commit.events, commit.stamps, int(row[1]))


def finish_run(
    tx: WriteTx,
    *,
    run_id: str,
    status: str,
    ts: str,
    error_message: str | None,
    stage_status: str | None,
    terminal_stage: StageRecord | None,
) -> None:
    """The run terminal: the exit node's stage stored as completed, running stages closed,
    pending questions withdrawn."""
    if terminal_stage is not None:
        finish = StageFinish("completed", ts, 0, 1, {"status": "success", "duration_ms": 0})
        stages.start_stage(tx, terminal_stage, finish)
    if stage_status:
        stages.close_running_stages(tx, run_id, stage_status, ts)
    questions.withdraw_pending(tx, run_id, ts)
    runs.update_run(
        tx,
        run_id,
        status=status,
        error_message=error_message,
        finished_at=ts,
        updated_at=ts,
        owner_pid=None,
    )
