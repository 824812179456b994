"""Sending JSON: every JSON body the API answers is encoded here, by one msgspec encoder.

Handlers return their response struct (``fabro.api.bodies``), None for a JSON ``null``, or a
``Response`` they built themselves (another status, headers, a stream); ``view`` turns the
first two into a response. The JSON is compact UTF-8 with a final newline, as Quart's own
JSON responses were: absent optional fields (``UNSET``) are left out, ``None`` is ``null``.
"""

from __future__ import annotations

from functools import wraps
from typing import Any

import msgspec
from quart import Response

from fabro.api.context import Handler
from fabro.api.headers import JSON_CONTENT_TYPE

_ENCODER = msgspec.json.Encoder()


def encode(body: Any) -> bytes:
    """``body`` (a struct, or plain JSON values) as the bytes of a JSON answer."""
    return _ENCODER.encode(body) + b"\n"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(encode(body), status=status, headers=headers, content_type=JSON_CONTENT_TYPE)


def view(handler: Handler) -> Handler:
    """``handler`` as a Quart view: its returned body sent as JSON, a Response as it is."""

    @wraps(handler)
    async def answer(**path_params: str) -> Response:
        body = await handler(**path_params)
        return body if isinstance(body, Response) else json_response(body)

    return answer
