"""An answer given before its request's body was read says `Connection: close`.

Quart answers a refused request (401, 403, 413, 429) from its before-request checks, often
before the body has arrived. Hypercorn then cannot use the connection for another request
(the rest of the body would be read as one) and closes it, but nothing in the answer said so:
a keep-alive client that sends its next request on that connection in the meantime sees it
dropped without an answer. Saying `Connection: close` in the answer makes the client open a
new connection instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from hypercorn.typing import (
        ASGIReceiveCallable,
        ASGIReceiveEvent,
        ASGISendCallable,
        ASGISendEvent,
        Scope,
    )

    AsgiApp = Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]

_CLOSE = (b"connection", b"close")


def has_body(scope: Scope) -> bool:
    """Whether the request announces a body (a length above 0, or chunks)."""
    headers: Iterable[tuple[bytes, bytes]] = scope.get("headers", ())  # type: ignore[assignment]
    for name, value in headers:
        if name == b"content-length":
            return value.strip() not in (b"", b"0")
        if name == b"transfer-encoding":
            return True
    return False


class CloseUnreadBodies:
    """ASGI middleware: see the module docstring. Requests without a body pass untouched."""

    def __init__(self, inner: AsgiApp) -> None:
        self.inner = inner

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http" or not has_body(scope):
            await self.inner(scope, receive, send)
            return
        read = False  # the whole body (or the client's disconnect) has been received

        async def receiving() -> ASGIReceiveEvent:
            nonlocal read
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                read = True
            return message

        async def sending(message: ASGISendEvent) -> None:
            if message["type"] == "http.response.start" and not read:
                headers = [*message.get("headers", ()), _CLOSE]
                message = {**message, "headers": headers}
            await send(message)

        await self.inner(scope, receiving, sending)
