"""Responses as the app sends them over ASGI, headers untouched.

The test client's responses are rebuilt as Quart Response objects, which give a body-less
answer the default `text/html` type again: headers a client really sees are read here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from quart.typing import TestClientProtocol as Client
from werkzeug.datastructures import Headers


@dataclass(frozen=True)
class Wire:
    status: int
    headers: Headers
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def exchange(
    client: Client,
    method: str,
    path: str,
    headers: dict[str, str],
    body: Any = None,
) -> Wire:
    """One request; ``body`` (when not None) is sent as JSON."""
    sent = dict(headers)
    if body is not None:
        sent["Content-Type"] = "application/json"
    async with client.request(path, method=method, headers=sent) as connection:
        if body is not None:
            await connection.send(json.dumps(body).encode())
        await connection.send_complete()
    assert connection.status_code is not None and connection.headers is not None
    return Wire(connection.status_code, connection.headers, bytes(connection.response_data))
