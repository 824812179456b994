"""Per-request access to the long-lived services and the authenticated principal."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from quart import current_app, g

from fabro.auth.chain import Principal

if TYPE_CHECKING:
    from fabro.services import Services


def services() -> Services:
    return cast("Services", current_app.config["FABRO_SERVICES"])


def principal() -> Principal:
    return cast(Principal, g.principal)
