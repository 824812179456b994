"""create_app(): the Quart application. No global app; every test builds its own."""

from __future__ import annotations

from typing import Any

from quart import Quart, Response, g, request

from fabro.api import (
    artifacts,
    audit,
    completions,
    discovery,
    events,
    global_events,
    internals,
    models,
    questions,
    receipts,
    runs,
    schedules,
    secrets,
    sessions,
    stages,
    usage,
    webhooks,
    workflows,
)
from fabro.api import settings as settings_api
from fabro.api.accesslog import AccessLog, note_principal
from fabro.api.authorize import authorize
from fabro.api.context import Handler, services
from fabro.api.errors import register_error_handlers
from fabro.api.fastlane import FastLane
from fabro.api.headers import (
    BODILESS_STATUSES,
    DEFAULT_HEADERS,
    FIXED_HEADERS,
)
from fabro.api.idempotency import IdempotencyGuard
from fabro.api.ratelimit import CONFIG_KEY as RATE_LIMITER
from fabro.api.ratelimit import RateLimiter, limit_request, quota_headers
from fabro.api.respond import view
from fabro.api.routes import PUBLIC_ENDPOINTS, ROUTES
from fabro.api.unread_body import CloseUnreadBodies
from fabro.auth.chain import Credentials
from fabro.config import MAX_BODY_BYTES, Settings
from fabro.errors import NotImplementedYet
from fabro.services import Services
from fabro.ui import register_ui
from fabro.ui.auth import cookie_principal

HANDLERS: dict[str, Handler] = {
    **discovery.HANDLERS,
    **settings_api.HANDLERS,
    **runs.HANDLERS,
    **events.HANDLERS,
    **questions.HANDLERS,
    **internals.HANDLERS,
    **stages.HANDLERS,
    **usage.HANDLERS,
    **artifacts.HANDLERS,
    **workflows.HANDLERS,
    **models.HANDLERS,
    **completions.HANDLERS,
    **sessions.HANDLERS,
    **receipts.HANDLERS,
    **schedules.HANDLERS,
    **secrets.HANDLERS,
    **audit.HANDLERS,
    **global_events.HANDLERS,
    **webhooks.HANDLERS,
}


async def not_implemented(**_path_params: str) -> Any:
    """Routes of the spec that are not built yet (and LATER routes): 501 after authentication."""
    raise NotImplementedYet("Not implemented.")


def create_app(settings: Settings, services_: Services | None = None) -> Quart:
    """Build the app. Without ``services_`` the app opens and closes its own while serving."""
    app = Quart("fabro")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["FABRO_SERVICES"] = services_
    register_error_handlers(app)
    register_ui(app)
    # Werkzeug answers `/runs//events` with a 308 to `/runs/events` (an HTML body, outside the
    # errors envelope); without merging, an empty segment matches no route: a 404.
    app.url_map.merge_slashes = False
    app.config[RATE_LIMITER] = RateLimiter(settings.governance.rate_limits)
    idempotency = IdempotencyGuard()  # Idempotency-Key on the rows that are `idempotent`

    for route in ROUTES:
        handler = HANDLERS.get(route.operation_id)
        view_func = not_implemented if handler is None else view(handler)
        app.add_url_rule(
            route.quart_rule,
            endpoint=route.operation_id,
            view_func=idempotency.wrap(view_func)
            if route.idempotent and handler is not None
            else view_func,
            methods=[route.method],
            provide_automatic_options=False,
        )

    @app.before_request
    async def authenticate() -> None:
        # Order of checks (api.md §2): route match first, so 404/405 win over 401.
        if request.routing_exception is not None or request.endpoint in PUBLIC_ENDPOINTS:
            return
        if request.blueprint == "ui":
            return  # the UI signs its requests in itself (fabro/ui/auth.py)
        tls = request.scope.get("extensions", {}).get("tls")
        # Several Authorization headers become one value that no authenticator accepts, so a
        # good token can never ride along with a bad one.
        authorization = ", ".join(request.headers.getlist("Authorization")) or None
        # The web UI's scripts call the API with the browser's session cookie.
        from_cookie = None if authorization else await cookie_principal(request)
        g.principal = from_cookie or services().auth.authenticate(
            Credentials(authorization=authorization, tls=tls)
        )
        note_principal(request.scope, g.principal.login)  # for the access log
        limit_request(g.principal.login)  # 429 over the principal's rate limit
        await authorize(request.endpoint, g.principal, services(), request.view_args)

    @app.after_request
    async def common_headers(response: Response) -> Response:
        quota_headers(response)  # RateLimit-* of a counted request
        for name, value in DEFAULT_HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers.update(FIXED_HEADERS)
        # Reads the body of a 202/204 only: empty, or a small JSON object (a 202 with one).
        if response.status_code in BODILESS_STATUSES and not await response.get_data():
            response.headers.pop("Content-Type", None)
        return audit.record_request(response)  # X-Request-Id, and the audit log's record

    # Requests with an Idempotency-Key still running finish before the database closes.
    app.after_serving(idempotency.drain)

    if services_ is None:

        @app.before_serving
        async def open_services() -> None:
            opened = await Services.open(settings)
            await opened.start()
            app.config["FABRO_SERVICES"] = opened

        @app.after_serving
        async def close_services() -> None:
            opened: Services | None = app.config["FABRO_SERVICES"]
            if opened is not None:
                await opened.close()

    @app.before_serving
    async def start_schedules() -> None:  # after open_services: the services exist by now
        services().start_ticker(schedules.fire_starter(app))

    # An answer before its request's body was read closes the connection, and says so.
    app.asgi_app = CloseUnreadBodies(app.asgi_app)  # type: ignore[method-assign]
    # `GET /runs/{id}` answers its 200s in front of Quart (see fabro/api/fastlane.py).
    app.asgi_app = FastLane(app, app.asgi_app)  # type: ignore[method-assign]
    if settings.access_log:  # outermost: it sees every answer, the fast lane's too
        app.asgi_app = AccessLog(app.asgi_app)  # type: ignore[method-assign]
    return app
