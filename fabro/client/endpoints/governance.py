"""The records of governance: the receipts of the actions runs took, and the audit log of
the API's acting requests, each with the check of its hash chain."""

from __future__ import annotations

from fabro.api.bodies.audit import AuditChainReport, AuditLogEntry, PaginatedAuditLogList
from fabro.api.bodies.receipts import PaginatedReceiptList, Receipt, ReceiptChainReport
from fabro.client.calls import Call, PagedCall
from fabro.client.endpoints.shared import run_path, segment
from fabro.client.methods import endpoint, paged


class GovernanceEndpoints:
    """Receipts and the audit log."""

    # ---- receipts ------------------------------------------------------------------------

    @paged
    def list_receipts(
        self,
        *,
        run: str | None = None,
        kind: str | None = None,
        decision: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> PagedCall[Receipt]:
        """`GET /receipts` (admin): every receipt, newest first, or those of one ``run``, one
        action ``kind``, one ``decision`` (ALLOW, ALERT, APPROVE, BLOCK, DEDUP), started
        from ``since`` and before ``until`` (RFC 3339 times)."""
        filters = {"run": run, "kind": kind, "decision": decision, "since": since, "until": until}
        params: dict[str, str | int] = {k: v for k, v in filters.items() if v is not None}
        return PagedCall("/receipts", PaginatedReceiptList, params)

    @endpoint
    def get_receipt(self, receipt_id: str) -> Call[Receipt]:
        """`GET /receipts/{id}`: one receipt."""
        return Call("GET", f"/receipts/{segment(receipt_id)}", Receipt, retry_safe=True)

    @paged
    def list_run_receipts(self, run_id: str) -> PagedCall[Receipt]:
        """`GET /runs/{id}/receipts`: a run's receipts, in the order its actions began."""
        return PagedCall(run_path(run_id, "receipts"), PaginatedReceiptList)

    @endpoint
    def verify_receipts(self) -> Call[ReceiptChainReport]:
        """`GET /receipts/verify` (admin): whether the receipts' hash chain is intact, and if
        not, its first bad entry and why."""
        return Call("GET", "/receipts/verify", ReceiptChainReport, retry_safe=True)

    # ---- the audit log -------------------------------------------------------------------

    @paged
    def list_audit_logs(
        self,
        *,
        principal: str | None = None,
        action: str | None = None,
        result: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> PagedCall[AuditLogEntry]:
        """`GET /audit-logs` (admin): the audit log, newest first, or the records of one
        ``principal``, one ``action`` (an operationId, or ui.signin.*), one ``result`` (ok,
        refused, failed), from ``since`` and before ``until`` (RFC 3339 times)."""
        filters = {
            "principal": principal,
            "action": action,
            "result": result,
            "since": since,
            "until": until,
        }
        params: dict[str, str | int] = {k: v for k, v in filters.items() if v is not None}
        return PagedCall("/audit-logs", PaginatedAuditLogList, params)

    @endpoint
    def verify_audit_logs(self) -> Call[AuditChainReport]:
        """`GET /audit-logs/verify` (admin): whether the audit log's hash chain is intact, and
        if not, its first bad record and why."""
        return Call("GET", "/audit-logs/verify", AuditChainReport, retry_safe=True)
