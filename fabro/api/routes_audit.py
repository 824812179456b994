"""The route table's rows for the audit log and the global event stream (issue 19),
appended to ``fabro.api.routes.ROUTES``.

The audit log is the server's own record of who did what: admin only. The global stream
carries what each run's stream carries: viewer, like them.
"""

from __future__ import annotations

from fabro.api.bodies.audit import AuditChainReport, PaginatedAuditLogList
from fabro.api.operations import AFTER, LAST_EVENT_ID, Param, Route
from fabro.governance.roles import Role

_TIME: dict[str, object] = {"type": "string", "format": "date-time"}
AUDIT_FILTERS = (
    Param("principal", "query", description="Only this principal's records."),
    Param("action", "query", description="Only this action (an operationId, or ui.signin.*)."),
    Param("result", "query", {"type": "string", "enum": ["ok", "refused", "failed"]}),
    Param("since", "query", _TIME, "Records at or after this time (RFC 3339)."),
    Param("until", "query", _TIME, "Records before this time (RFC 3339)."),
)
EVENT_FILTERS = (
    Param("run", "query", description="Only this run's events."),
    Param("workflow", "query", description="Only the events of this registry workflow's runs."),
    Param(
        "label",
        "query",
        {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}:"},
        "key:value: only runs with this label (repeatable: every one must match).",
    ),
    Param(
        "type",
        "query",
        description="Event variants, e.g. StageFailed (repeatable or comma-separated).",
    ),
)

AUDIT_ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/audit-logs",
        "listAuditLogs",
        "Audit",
        "The audit log, newest first (fabro)",
        "REAL",
        200,
        PaginatedAuditLogList,
        paginated=True,
        params=AUDIT_FILTERS,
        role=Role.ADMIN,
    ),
    Route(
        "GET",
        "/audit-logs/verify",
        "verifyAuditLogs",
        "Audit",
        "Check the audit log's hash chain (fabro)",
        "REAL",
        200,
        AuditChainReport,
        role=Role.ADMIN,
    ),
    Route(
        "GET",
        "/events",
        "streamEvents",
        "Events",
        "Every run's events, in one order (Server-Sent Events; fabro)",
        "REAL",
        200,
        None,
        media="text/event-stream",
        params=(AFTER, LAST_EVENT_ID, *EVENT_FILTERS),
        events="GlobalEventFrame",
        role=Role.VIEWER,
    ),
)
