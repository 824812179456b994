"""Authorisation: the one place a principal's role is checked against what a route needs.

Called right after authentication, by the API's ``before_request`` (fabro/app.py), the fast
lane (fabro/api/fastlane.py) and the web UI's ``before_request`` (fabro/ui/auth.py), so an
API call, a page's script and a form's POST are refused alike: 403 in the errors envelope,
naming the role needed and the role the principal has (fabro.governance.roles).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from fabro.api.operations import Route
from fabro.api.routes import ROUTES
from fabro.auth.chain import Principal
from fabro.governance.roles import Role

if TYPE_CHECKING:
    from fabro.services import Services

ROUTE_OF: dict[str, Route] = {route.operation_id: route for route in ROUTES}
RUN_PREFIX = "/runs/{id}/"  # the routes that act on one run (operators_own_runs_only)


async def authorize(
    route: Route | str | None,
    principal: Principal,
    services: Services,
    path_args: Mapping[str, object] | None = None,
) -> Role:
    """The principal's role when it may call ``route`` (a row or its operationId); else 403.

    A route outside the table (none should be) needs admin: an unknown route fails closed.
    """
    row = ROUTE_OF.get(route) if isinstance(route, str) else route
    needed = row.role if row is not None and row.role is not None else Role.ADMIN
    run_id = None
    if row is not None and row.path.startswith(RUN_PREFIX) and path_args:
        run_id = path_args.get("id")
    return await check_role(needed, principal, services, run_id if needed > Role.VIEWER else None)


async def check_role(
    needed: Role, principal: Principal, services: Services, acting_on: object = None
) -> Role:
    """Refuse a principal below ``needed``; with ``acting_on`` (a run id) and
    operators_own_runs_only, also an operator acting on a run someone else started."""
    roles = services.settings.governance.roles
    role = roles.check(needed, principal)
    if isinstance(acting_on, str) and roles.operators_own_runs_only and role < Role.ADMIN:
        run = await services.store.get_run(acting_on)
        if run is not None:  # an unknown run is the handler's 404
            roles.check_owner(role, principal, run.created_by)
    return role
