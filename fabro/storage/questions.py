"""Human-gate questions: stored before anything waits on them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fabro.storage.connection import Row
from fabro.storage.db import Database
from fabro.storage.writer import WriteTx


@dataclass(frozen=True)
class QuestionRecord:
    run_id: str
    qid: str
    n: int
    stage_id: str
    node_id: str
    text: str
    question_type: str
    options: list[dict[str, str]]
    allow_freeform: bool
    status: str  # pending | answered | expired | withdrawn
    created_at: str
    answer: dict[str, Any] | None = None
    answered_by: str | None = None
    answered_at: str | None = None


def _question(row: Row) -> QuestionRecord:
    values = dict(row)
    values["options"] = json.loads(values["options"])
    values["allow_freeform"] = bool(values["allow_freeform"])
    values["answer"] = json.loads(values["answer"]) if values["answer"] else None
    return QuestionRecord(**values)


def create_question(
    tx: WriteTx,
    *,
    run_id: str,
    stage_id: str,
    node_id: str,
    text: str,
    question_type: str,
    options: list[dict[str, str]],
    allow_freeform: bool,
    created_at: str,
) -> QuestionRecord:
    row = tx.fetchone("SELECT COALESCE(MAX(n), 0) + 1 FROM questions WHERE run_id = ?", [run_id])
    n = int(row[0]) if row else 1
    record = QuestionRecord(
        run_id=run_id,
        qid=f"q-{n}",
        n=n,
        stage_id=stage_id,
        node_id=node_id,
        text=text,
        question_type=question_type,
        options=options,
        allow_freeform=allow_freeform,
        status="pending",
        created_at=created_at,
    )
    tx.execute(
        "INSERT INTO questions (run_id, qid, n, stage_id, node_id, text, question_type, options,"
        " allow_freeform, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
        [
            run_id,
            record.qid,
            n,
            stage_id,
            node_id,
            text,
            question_type,
            json.dumps(options, ensure_ascii=False),
            int(allow_freeform),
            created_at,
        ],
    )
    return record


def answer_question(
    tx: WriteTx, run_id: str, qid: str, answer: dict[str, Any], by: str | None, ts: str
) -> bool:
    """Record an answer if the question is still pending; False when it is not (409)."""
    changed = tx.execute(
        "UPDATE questions SET status = 'answered', answer = ?, answered_by = ?, answered_at = ?"
        " WHERE run_id = ? AND qid = ? AND status = 'pending'",
        [json.dumps(answer, ensure_ascii=False), by, ts, run_id, qid],
    )
    return changed == 1


def close_question(tx: WriteTx, run_id: str, qid: str, status: str, ts: str) -> None:
    """Expire or withdraw a pending question."""
    tx.execute(
        "UPDATE questions SET status = ?, answered_at = ? WHERE run_id = ? AND qid = ?"
        " AND status = 'pending'",
        [status, ts, run_id, qid],
    )


def withdraw_pending(tx: WriteTx, run_id: str, ts: str) -> None:
    tx.execute(
        "UPDATE questions SET status = 'withdrawn', answered_at = ? WHERE run_id = ?"
        " AND status = 'pending'",
        [ts, run_id],
    )


_GET_QUESTION = "SELECT * FROM questions WHERE run_id = ? AND qid = ?"


async def get_question(db: Database, run_id: str, qid: str) -> QuestionRecord | None:
    row = await db.fetchone(_GET_QUESTION, [run_id, qid])
    return _question(row) if row else None


def get_question_in(tx: WriteTx, run_id: str, qid: str) -> QuestionRecord | None:
    row = tx.fetchone(_GET_QUESTION, [run_id, qid])
    return _question(row) if row else None


async def latest_for_stage(db: Database, run_id: str, stage_id: str) -> QuestionRecord | None:
    row = await db.fetchone(
        "SELECT * FROM questions WHERE run_id = ? AND stage_id = ? ORDER BY n DESC LIMIT 1",
        [run_id, stage_id],
    )
    return _question(row) if row else None


async def pending_questions(db: Database, run_id: str) -> list[QuestionRecord]:
    rows = await db.fetchall(
        "SELECT * FROM questions WHERE run_id = ? AND status = 'pending' ORDER BY n", [run_id]
    )
    return [_question(row) for row in rows]


async def oldest_pending(db: Database, run_ids: Sequence[str]) -> dict[str, QuestionRecord]:
    """The oldest pending question of each of ``run_ids`` that has one, in one read."""
    if not run_ids:
        return {}
    marks = ", ".join("?" for _ in run_ids)
    rows = await db.fetchall(
        f"SELECT * FROM questions WHERE status = 'pending' AND run_id IN ({marks})"
        " ORDER BY run_id, n",
        list(run_ids),
    )
    oldest: dict[str, QuestionRecord] = {}
    for row in rows:
        if row["run_id"] not in oldest:
            oldest[row["run_id"]] = _question(row)
    return oldest
