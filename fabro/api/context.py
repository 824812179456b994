"""Per-request access to the long-lived services and the authenticated principal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from quart import current_app, g

from fabro.auth.chain import Principal

if TYPE_CHECKING:
    from fabro.services import Services

# A route handler: path parameters as keyword arguments; returns its response body (a struct of
# fabro.api.bodies, sent by fabro.api.respond.view) or a Response it built.
Handler = Callable[..., Awaitable[Any]]


def services() -> Services:
    return cast("Services", current_app.config["FABRO_SERVICES"])


def principal() -> Principal:
    return cast(Principal, g.principal)
