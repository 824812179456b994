"""Bodies of receipts (issue 18): one per action a run disposed of, and the chain's check."""

from __future__ import annotations

from typing import Literal, Self, cast

from fabro.api.bodies.common import Body, Page
from fabro.governance.actions import ActionKind, Outcome
from fabro.governance.receipts import Problem, VerifyReport
from fabro.storage.receipts import ReceiptRecord

# A verdict's label, or DEDUP: recovery did not run again an action that had already run.
DecisionLabel = Literal["ALLOW", "ALERT", "APPROVE", "BLOCK", "DEDUP"]


class Receipt(Body):
    """An action, the policy's decision on it and how it ended. The ended fields are null
    while the action has not ended (after a crash in the middle of it: for ever)."""

    id: str
    seq: int  # the receipt's place in the chain
    run_id: str
    stage_id: str
    attempt: int
    kind: ActionKind
    action: str  # redacted, at most 4,096 characters (and the cut marker)
    decision: DecisionLabel
    rule: str  # the deciding rule; "default": none matched; "": no policy configured
    approver: str | None
    idempotency_key: str | None
    started_at: str
    outcome: Outcome | None
    exit_status: int | None
    result_digest: str | None  # hex SHA-256 of the result
    ended_at: str | None

    @classmethod
    def from_record(cls, record: ReceiptRecord) -> Receipt:
        return cls(
            id=record.id,
            seq=record.seq,
            run_id=record.run_id,
            stage_id=record.stage_id,
            attempt=record.attempt,
            kind=record.kind,
            action=record.action,
            decision=cast(DecisionLabel, record.decision),  # storage's DECISIONS
            rule=record.rule,
            approver=record.approver,
            idempotency_key=record.idempotency_key,
            started_at=record.started_at,
            outcome=record.outcome,
            exit_status=record.exit_status,
            result_digest=record.result_digest,
            ended_at=record.ended_at,
        )


class PaginatedReceiptList(Page[Receipt]):
    pass


class ReceiptChainReport(Body):
    """Whether the receipts' hash chain is intact; if not, its first bad entry and why."""

    ok: bool
    entries_checked: int
    head_seq: int | None  # the last good entry: keep its hash elsewhere to vouch for the log
    head_hash: str | None
    bad_seq: int | None
    problem: Problem | None
    detail: str | None

    @classmethod
    def from_report(cls, report: VerifyReport) -> Self:
        return cls(
            ok=report.ok,
            entries_checked=report.entries_checked,
            head_seq=report.head_seq,
            head_hash=report.head_hash,
            bad_seq=report.bad_seq,
            problem=report.problem,
            detail=report.detail,
        )
