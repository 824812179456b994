"""The audit log page (admins only): who changed what, who signed in, who was refused.

The records are the API's (`GET /audit-logs`, fabro/api/audit.py), with the same filters and
the same 400 for a bad one; 50 a page, newest first.
"""

from __future__ import annotations

from typing import Any, Final

from quart import g, render_template, request

from fabro.api.audit import RESULTS, audit_filter
from fabro.api.context import services
from fabro.api.request import query_int
from fabro.governance.roles import Role
from fabro.ui.blueprint import ui

PAGE_SIZE: Final = 50
FILTERS: Final = ("principal", "action", "result", "since", "until")


def is_admin() -> bool:
    """Whether the signed-in principal is an admin (the navigation shows the page only then)."""
    role: Role | None = g.get("role")
    return role is not None and role >= Role.ADMIN


@ui.route("/audit", methods=["GET"], endpoint="audit")
async def audit_page() -> Any:
    match = audit_filter()
    offset = query_int("offset", 0, minimum=0)
    page = await services().audit.list(match, limit=PAGE_SIZE, offset=offset)
    filters = {name: request.args[name] for name in FILTERS if request.args.get(name)}
    return await render_template(
        "audit.html",
        records=page.items,
        filters=filters,
        results=RESULTS,
        offset=offset,
        page_size=PAGE_SIZE,
        has_more=page.has_more,
    )
