"""Bodies of the audit log (issue 19): one record per audited request, and the chain's check."""

from __future__ import annotations

from typing import Literal, cast

from fabro.api.bodies.common import Body, Page
from fabro.api.bodies.receipts import ReceiptChainReport
from fabro.storage.audit import AuditRecord

AuditResult = Literal["ok", "refused", "failed"]
RoleLabel = Literal["viewer", "operator", "admin"]


class AuditLogEntry(Body):
    """A request that changed something, a sign-in or sign-out, or a refused access."""

    seq: int  # the record's place in the chain
    at: str
    principal: str | None  # null: the request was not authenticated
    role: RoleLabel | None
    action: str  # the operationId, or the web UI's action (ui.signin.link, ui.signout, ...)
    method: str
    target: str  # the path
    status: int
    result: AuditResult  # ok (< 400), refused (401, 403), failed (any other error)
    request_id: str  # the X-Request-Id of the response
    client: str | None  # the client's address

    @classmethod
    def from_record(cls, record: AuditRecord) -> AuditLogEntry:
        return cls(
            seq=record.seq,
            at=record.at,
            principal=record.principal,
            role=cast(RoleLabel | None, record.role),
            action=record.action,
            method=record.method,
            target=record.target,
            status=record.status,
            result=cast(AuditResult, record.result),
            request_id=record.request_id,
            client=record.client,
        )


class PaginatedAuditLogList(Page[AuditLogEntry]):
    pass


class AuditChainReport(ReceiptChainReport):
    """Whether the audit log's hash chain is intact; if not, its first bad record and why."""
