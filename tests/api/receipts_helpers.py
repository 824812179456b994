"""Receipts written into a real server's database from the test process, through the same
writes the engine's guard uses (SQLite lets a second process write a WAL database)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from fabro.governance.actions import ActionKind, Outcome
from fabro.storage.db import Database
from fabro.storage.receipts import ReceiptStart, begin_receipt, end_receipt, refused_receipt

# A workflow that takes no action on the host: its run has no receipts but the seeded ones.
QUIET = "digraph Quiet { start [shape=Mdiamond]; exit [shape=Msquare]; start -> exit }"
DIGEST = "cd" * 32


@dataclass(frozen=True)
class Seed:
    run_id: str
    kind: ActionKind
    decision: str
    started_at: str
    outcome: Outcome | None  # None: began and never ended (refused: one write)
    action: str = "pytest -q"


def seed(db_path: Path, seeds: list[Seed]) -> list[str]:
    """Write ``seeds`` in order; their receipt ids."""
    return asyncio.run(_seed(db_path, seeds))


async def _seed(db_path: Path, seeds: list[Seed]) -> list[str]:
    db = await Database.open(db_path)
    ids = []
    try:
        for item in seeds:
            start = ReceiptStart(
                run_id=item.run_id,
                stage_id="work",
                attempt=1,
                kind=item.kind,
                action=item.action,
                decision=item.decision,
                rule="" if item.decision == "ALLOW" else "tests",
                approver=None,
                idempotency_key=f"{item.run_id}/work/{len(ids)}",
                started_at=item.started_at,
            )
            ended = item.started_at.replace("00.000Z", "01.000Z")
            if item.outcome == "refused":
                await db.write(refused_receipt(start, ended))
            else:
                await db.write(begin_receipt(start))
                if item.outcome is not None:
                    status = 0 if item.outcome == "applied" else 1
                    await db.write(end_receipt(start.id, item.outcome, status, DIGEST, ended))
            ids.append(start.id)
    finally:
        await db.close()
    return ids
