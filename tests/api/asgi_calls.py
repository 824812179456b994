"""Requests straight through an ASGI callable (the fast lane, Quart), with no server: for the
tests of what answers before Quart does."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

Headers = list[tuple[bytes, bytes]]
Answer = tuple[int, Headers, bytes]


async def call(
    asgi: Callable[..., Any],
    path: str,
    headers: Headers,
    *,
    method: str = "GET",
    query: bytes = b"",
    body: bytes = b"",
    tls: dict[str, Any] | None = None,
) -> Answer:
    """One request straight through an ASGI callable; the status, headers and whole body."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 3000),
        "extensions": {} if tls is None else {"tls": tls},
    }
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Future()  # the client stays connected; Quart cancels this
        raise AssertionError("unreachable")

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asgi(scope, receive, send)
    assert sent[0]["type"] == "http.response.start"
    return sent[0]["status"], list(sent[0]["headers"]), b"".join(m["body"] for m in sent[1:])


def bearer(token: str) -> Headers:
    return [(b"authorization", f"Bearer {token}".encode())]
