"""The audit log over HTTP (issue 19): which requests are recorded, and reading the records.

``record_request`` runs once per answered request (the app's ``after_request``, fabro/app.py):
it gives the response its ``X-Request-Id`` (the client's own when it is sane, else a new one)
and appends one record for every request that may change something (any method but GET,
HEAD and OPTIONS, in the API and the web UI alike), every sign-in and sign-out of the web UI
(which marks them with ``audit_action``) and every refused access (401, 403: a GET too).
Reads are not recorded, and neither are 429s: a client over its rate limit would otherwise
write to the log as fast as the limit refuses it.
"""

from __future__ import annotations

from quart import Response, g, request

from fabro.api.bodies.audit import AuditChainReport, AuditLogEntry, PaginatedAuditLogList
from fabro.api.context import Handler, services
from fabro.api.pagination import page_params
from fabro.api.request import query_choice, query_moment
from fabro.api.request_ids import REQUEST_ID, request_id_for
from fabro.clock import SYSTEM_CLOCK, format_ts
from fabro.errors import BadRequest
from fabro.storage.audit import AuditFilter, AuditRecord

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REFUSED = frozenset({401, 403})
RESULTS = ("ok", "refused", "failed")
MAX_FILTER_CHARS = 200


def request_id() -> str:
    """This request's id: the client's ``X-Request-Id`` when it is sane, else a new ULID."""
    return request_id_for(request.headers.get(REQUEST_ID))


def audit_action(action: str) -> None:
    """Have this request recorded as ``action`` whatever its method (the UI's sign-ins)."""
    g.audit_action = action


def result_of(status: int) -> str:
    if status in REFUSED:
        return "refused"
    return "ok" if status < 400 else "failed"


def record_request(response: Response) -> Response:
    """Give ``response`` its request id, and queue the request's audit record if it gets one."""
    rid = response.headers.get(REQUEST_ID) or request_id()
    response.headers[REQUEST_ID] = rid
    action = g.get("audit_action")
    status = response.status_code
    if action is None:
        if request.routing_exception is not None or request.endpoint in (None, "ui.static"):
            return response  # no route: nothing was changed or refused
        if request.method in SAFE_METHODS and status not in REFUSED:
            return response
        action = request.endpoint
    who = g.get("principal")
    role = None
    if who is not None:
        found = services().settings.governance.roles.role_of(who)
        role = None if found is None else found.label
    services().audit.append(
        AuditRecord(
            at=format_ts(SYSTEM_CLOCK.now()),
            principal=None if who is None else who.login,
            role=role,
            action=str(action),
            method=request.method,
            target=request.path[:2048],
            status=status,
            result=result_of(status),
            request_id=rid,
            client=request.remote_addr,
        )
    )
    return response


# ---- reading -----------------------------------------------------------------------------


def _text(name: str) -> str | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    if len(raw) > MAX_FILTER_CHARS:
        raise BadRequest(f"Query parameter '{name}' is longer than {MAX_FILTER_CHARS} characters.")
    return raw


def audit_filter() -> AuditFilter:
    """The request's filters (`principal`, `action`, `result`, `since`, `until`); 400 naming a
    bad one."""
    return AuditFilter(
        principal=_text("principal"),
        action=_text("action"),
        result=query_choice("result", RESULTS, "") or None,
        since=query_moment("since"),
        until=query_moment("until", end=True),
    )


async def list_audit_logs() -> PaginatedAuditLogList:
    match = audit_filter()
    params = page_params()
    page = await services().audit.list(match, limit=params.limit, offset=params.offset)
    return PaginatedAuditLogList.of(
        [AuditLogEntry.from_record(r) for r in page.items], page.has_more
    )


async def verify_audit_logs() -> AuditChainReport:
    return AuditChainReport.from_report(await services().audit.verify())


HANDLERS: dict[str, Handler] = {
    "listAuditLogs": list_audit_logs,
    "verifyAuditLogs": verify_audit_logs,
}
