"""The fast lane: `GET /runs/{id}`, the most polled route, answered in front of Quart.

For a status poll, Quart's per-request machinery (request and app contexts, URL routing,
two tasks, a Response object, three ASGI sends) costs more CPU than the lookup itself.
``FastLane`` wraps ``app.asgi_app`` and handles only a plain ``GET /runs/<id>`` (no query
string, no request body, no root path): it authenticates with the same authenticator chain
as every other route, reads the run, and sends the RunStatusResponse with the same encoder
(``fabro.api.respond``) and the same headers as the Quart route. Whenever it cannot answer
200 (no or bad credentials, an unknown run, any error at all) it hands the request to Quart
untouched, which answers it in full, so errors keep coming from the one error handler and no request
is ever served unauthenticated.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from fabro.api.accesslog import note_principal
from fabro.api.authorize import authorize
from fabro.api.headers import DEFAULT_HEADERS, FIXED_HEADERS, JSON_CONTENT_TYPE
from fabro.api.ratelimit import CONFIG_KEY as RATE_LIMITER
from fabro.api.ratelimit import RateLimiter
from fabro.api.request_ids import request_id_for
from fabro.api.respond import encode
from fabro.api.views import find_run_status
from fabro.auth.chain import Credentials

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, HTTPScope, Scope
    from quart import Quart

    from fabro.services import Services

    AsgiApp = Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]

# Run ids are ULIDs; anything else (Quart's `<id>` matches any segment) goes to Quart.
_RUN_PATH = re.compile(r"/runs/([0-9A-Za-z]{1,64})")
_BODY_HEADERS = (b"content-length", b"transfer-encoding")
_JSON = JSON_CONTENT_TYPE.encode()
_ENCODED_COMMON = [
    (name.lower().encode(), value.encode())
    for name, value in (*DEFAULT_HEADERS.items(), *FIXED_HEADERS.items())
]


class FastLane:
    """ASGI middleware for ``app.asgi_app``: serves the 200s of `GET /runs/{id}`."""

    def __init__(self, app: Quart, inner: AsgiApp) -> None:
        self.app = app
        self.inner = inner

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and not scope["query_string"]
            and not scope.get("root_path")
        ):
            match = _RUN_PATH.fullmatch(scope["path"])
            if match is not None:
                answer = await self._run_status(scope, match[1])
                if answer is not None:
                    body, quota = answer
                    headers = [
                        (b"content-type", _JSON),
                        (b"content-length", b"%d" % len(body)),
                        *quota,  # where Quart's after_request puts them, before the common
                        *_ENCODED_COMMON,
                        (b"x-request-id", _request_id(scope).encode()),  # the audit's, last
                    ]
                    await send({"type": "http.response.start", "status": 200, "headers": headers})
                    await send({"type": "http.response.body", "body": body, "more_body": False})
                    return
        await self.inner(scope, receive, send)

    async def _run_status(
        self, scope: HTTPScope, run_id: str
    ) -> tuple[bytes, list[tuple[bytes, bytes]]] | None:
        """The 200 body of `GET /runs/{run_id}` and its RateLimit-* headers, or None when
        Quart should answer."""
        services: Services | None = self.app.config["FABRO_SERVICES"]
        if services is None:  # not serving yet
            return None
        authorization: list[str] = []
        for name, value in scope["headers"]:
            lowered = name.lower()
            if lowered == b"authorization":
                authorization.append(value.decode("latin-1"))
            elif lowered in _BODY_HEADERS and value.strip() != b"0":
                return None
        extensions = scope.get("extensions") or {}
        # As in app.py: several Authorization headers become one value nobody accepts.
        credentials = Credentials(
            authorization=", ".join(authorization) or None, tls=extensions.get("tls")
        )
        try:
            principal = services.auth.authenticate(credentials)
            await authorize("retrieveRun", principal, services)  # Quart answers the 403
            status = await find_run_status(services.store, run_id)
        except Exception:  # Quart does it again and answers: an error envelope, a logged 500
            return None
        if status is None:
            return None  # Quart's 404
        limiter: RateLimiter = self.app.config[RATE_LIMITER]
        quota = limiter.take(principal.login, "reads")
        if quota is not None and not quota.allowed:
            return None  # Quart's 429 (counting it again changes nothing: it is over)
        note_principal(scope, principal.login)
        return encode(status), [] if quota is None else quota.encoded()


def _request_id(scope: HTTPScope) -> str:
    given = next((v for n, v in scope["headers"] if n.lower() == b"x-request-id"), None)
    return request_id_for(None if given is None else given.decode("latin-1"))
