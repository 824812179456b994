"""Discovery routes (api.md §5.2): `/`, `/health`, `/openapi.json`, `/user`."""

from __future__ import annotations

from msgspec import UNSET
from quart import Response, request

from fabro.api.bodies.common import HealthResponse, JsonObject, RootResponse, UserResponse
from fabro.api.context import Handler, principal, services
from fabro.api.openapi import openapi_document


async def get_root() -> RootResponse | Response:
    # A browser asking for a page is sent to the web UI; API clients get the discovery JSON.
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        return Response("", 302, {"Location": "/ui/"})
    return RootResponse(
        urls={
            "openapi_url": "/openapi.json",
            "current_user_url": "/user",
            "health_url": "/health",
        }
    )


async def get_health() -> HealthResponse:
    return HealthResponse(status="ok")


async def get_openapi_spec() -> JsonObject:
    return openapi_document()


async def get_user() -> UserResponse:
    roles = services().settings.governance.roles
    role = roles.role_of(principal()) if roles.configured else None
    return UserResponse(login=principal().login, role=role.label if role else UNSET)


HANDLERS: dict[str, Handler] = {
    "getRoot": get_root,
    "getHealth": get_health,
    "getOpenApiSpec": get_openapi_spec,
    "getUser": get_user,
}
