"""Secrets over HTTP (issue 19): set, list, delete and rotate; no answer carries a value."""

from __future__ import annotations

from quart import Response

from fabro.api.bodies.secrets import (
    PaginatedSecretList,
    SecretItem,
    SecretRotation,
    SetSecretRequest,
)
from fabro.api.context import Handler, services
from fabro.api.pagination import page_params
from fabro.api.request import read_body
from fabro.api.respond import json_response
from fabro.errors import BadRequest, Conflict, NotFound
from fabro.secrets.vault import KeyUnavailable, check_name


def _name(name: str) -> str:
    try:
        check_name(name)
    except ValueError as exc:
        raise BadRequest(f"Path parameter 'name' is invalid: {exc}") from None
    return name


async def set_secret(name: str) -> Response:
    _name(name)
    body = await read_body(SetSecretRequest)
    if "\0" in body.value:
        raise BadRequest("Field 'value' must not contain a NUL character.")
    try:
        info, created = await services().secrets.set(name, body.value)
    except KeyUnavailable as exc:
        raise Conflict(f"Secrets cannot be stored: {exc}.") from None
    await services().provider_key_changed(name)
    return json_response(SecretItem.from_info(info), 201 if created else 200)


async def list_secrets() -> PaginatedSecretList:
    params = page_params()
    page = await services().secrets.list(limit=params.limit, offset=params.offset)
    return PaginatedSecretList.of([SecretItem.from_info(i) for i in page.items], page.has_more)


async def delete_secret(name: str) -> Response:
    if not await services().secrets.delete(_name(name)):
        raise NotFound("Secret not found.")
    await services().provider_key_changed(name)
    return Response(status=204)


async def rotate_secrets() -> SecretRotation:
    try:
        count, key_id = await services().secrets.rotate()
    except KeyUnavailable as exc:
        raise Conflict(f"The key cannot be rotated: {exc}.") from None
    return SecretRotation(resealed=count, key_id=key_id)


HANDLERS: dict[str, Handler] = {
    "setSecret": set_secret,
    "listSecrets": list_secrets,
    "deleteSecret": delete_secret,
    "rotateSecrets": rotate_secrets,
}
