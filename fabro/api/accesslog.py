"""The access log, when `[log] access = true` (or FABRO_ACCESS_LOG): one line per request.

    GET /runs/01JABC.../events 200 5012.3ms alice

Method, path as the client sent it without the query string, status (`-` when no answer was
started), milliseconds until the answer was sent, and the authenticated login (`-` for none).
Nothing else of the request is written: no header (a token lives in Authorization) and no
query string. The path is cut and its control characters escaped, so a request can neither
forge log lines nor flood the log. The line is written by the outermost ASGI layer, so it
covers every answer: the fast lane's, Quart's and its error handlers'.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, ASGISendEvent, Scope

    AsgiApp = Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]

log = logging.getLogger("fabro.access")

PRINCIPAL_KEY = "fabro.principal"  # the scope key holding the authenticated login
MAX_PATH = 1000


def note_principal(scope: Any, login: str) -> None:
    """Record who the request is from in its ASGI scope, for its access log line."""
    scope[PRINCIPAL_KEY] = login


def printable(text: str, limit: int = MAX_PATH) -> str:
    cut = text[:limit] + ("…" if len(text) > limit else "")
    return "".join(ch if ch.isprintable() and ch != " " else f"\\x{ord(ch):02x}" for ch in cut)


def _path(scope: Scope) -> str:
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else str(scope.get("path", ""))
    return printable(path.split("?", 1)[0])


class AccessLog:
    """ASGI middleware writing one `fabro.access` INFO line per HTTP request."""

    def __init__(self, inner: AsgiApp) -> None:
        self.inner = inner
        # Turned on, the access log is written whatever `[log] level` says of other lines.
        log.setLevel(logging.INFO)

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        started = time.perf_counter()
        status: list[int] = []

        async def sending(message: ASGISendEvent) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            await self.inner(scope, receive, sending)
        finally:
            login = scope.get(PRINCIPAL_KEY)
            log.info(
                "%s %s %s %.1fms %s",
                printable(scope["method"], 20),
                _path(scope),
                status[0] if status else "-",
                (time.perf_counter() - started) * 1000,
                printable(login, 200) if isinstance(login, str) else "-",
            )
