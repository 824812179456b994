"""Discovery routes (api.md §5.2): `/`, `/health`, `/openapi.json`, `/user`."""

from __future__ import annotations

from typing import Any

from fabro.api.context import Handler, principal
from fabro.api.openapi import openapi_document


async def get_root() -> dict[str, Any]:
    return {
        "urls": {
            "openapi_url": "/openapi.json",
            "current_user_url": "/user",
            "health_url": "/health",
        }
    }


async def get_health() -> dict[str, Any]:
    return {"status": "ok"}


async def get_openapi_spec() -> dict[str, Any]:
    return openapi_document()


async def get_user() -> dict[str, Any]:
    return {"login": principal().login}


HANDLERS: dict[str, Handler] = {
    "getRoot": get_root,
    "getHealth": get_health,
    "getOpenApiSpec": get_openapi_spec,
    "getUser": get_user,
}
