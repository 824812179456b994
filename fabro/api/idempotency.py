"""Idempotency-Key on the POSTs that create or act (``Route.idempotent``): a retried request
is answered with the first one's response instead of acting again.

The key is the principal's; the request's identity is its method, path and the SHA-256 of its
body. The first request claims the key in the database, runs, and stores its response (status,
the headers that matter, body); a repeat with the same identity within the window
([idempotency] window) gets that response again with ``Idempotent-Replayed: true``; another
identity gets 409. A request that fails (4xx, 5xx, an exception) releases the key.

Requests with one key run one at a time in this process: a repeat that arrives while the first
is running waits for it (up to WAIT_S) and then replays it, so the handler never runs twice.
The first request runs in a task of its own, shielded from its client going away: a request
that was acted on has its response stored even if nobody waits for it any more.

``POST /runs`` keeps its own keys (api.md §6.2, fabro/api/runs.py); streams are not wrapped.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial, wraps

from quart import Response, request

from fabro.api.context import Handler, principal, services
from fabro.api.runs import idempotency_key
from fabro.clock import format_ts
from fabro.errors import Conflict
from fabro.storage.idempotency import IdempotentRequest, StoredResponse

WAIT_S = 30.0  # how long a repeat waits for the first request with its key
REPLAYED_HEADERS = frozenset({"content-type", "location"})
HASH_IN_THREAD_BYTES = 64 * 1024  # larger bodies are hashed off the event loop
DIFFERENT = "Idempotency-Key was already used with a different request."
IN_PROGRESS = "A request with this Idempotency-Key is still in progress; retry later."

Slot = tuple[str, str]  # (principal, key)


class IdempotencyGuard:
    """The requests with a key that are running in this process, one per (principal, key)."""

    def __init__(self) -> None:
        self._running: dict[Slot, asyncio.Task[Response]] = {}

    def wrap(self, view_func: Handler) -> Handler:
        """``view_func`` (a Quart view) honouring the Idempotency-Key header."""

        @wraps(view_func)
        async def guarded(**path_params: str) -> Response:
            key = idempotency_key(request.headers.get("Idempotency-Key"))
            if key is None:
                response: Response = await view_func(**path_params)
                return response
            identity = await request_identity()
            slot = (principal().login, key)
            return await self.once(slot, identity, partial(view_func, **path_params))

        return guarded

    async def once(
        self, slot: Slot, identity: str, call: Callable[[], Awaitable[Response]]
    ) -> Response:
        """Run ``call`` for the first request with ``slot``'s key, replay it for the others."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_S
        while True:
            running = self._running.get(slot)
            if running is None:
                # Looked up and registered with no await between: one task per key at a time.
                task = asyncio.create_task(_first_or_replay(slot, identity, call))
                self._running[slot] = task
                task.add_done_callback(partial(self._finished, slot))
                return await asyncio.shield(task)
            done, _ = await asyncio.wait({running}, timeout=max(0.0, deadline - loop.time()))
            if not done:
                raise Conflict(IN_PROGRESS, headers={"Retry-After": "1"})
            # The first request ended (stored, or failed and released): look again.

    def _finished(self, slot: Slot, task: asyncio.Task[Response]) -> None:
        if self._running.get(slot) is task:
            del self._running[slot]
        if not task.cancelled():
            task.exception()  # its own request reports it; a request gone away does not

    async def drain(self) -> None:
        """Wait for the requests still running (shutdown: before the database closes)."""
        while self._running:
            await asyncio.wait(list(self._running.values()))


async def request_identity() -> str:
    """Hex SHA-256 of the method, the path with its query and the SHA-256 of the body."""
    body = await request.get_data(True, False, False)  # cached: the handler reads it again
    if len(body) > HASH_IN_THREAD_BYTES:
        body_hash = await asyncio.to_thread(_sha256, body)
    else:
        body_hash = _sha256(body)
    target = request.path + ("?" + request.query_string.decode() if request.query_string else "")
    return _sha256(f"{request.method} {target} {body_hash}".encode())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def _first_or_replay(
    slot: Slot, identity: str, call: Callable[[], Awaitable[Response]]
) -> Response:
    store = services().idempotent_requests
    login, key = slot
    now = datetime.now(UTC)
    window = timedelta(seconds=services().settings.governance.idempotency.window_s)
    not_before = format_ts(now - window)
    held = await store.find(login, key)  # a repeat is a read; only a first claims (a write)
    if held is None or held.created_at < not_before:
        held = await store.claim(login, key, identity, format_ts(now), not_before)
    if held is not None:
        return _replay(held, identity)
    try:
        response = await call()
        if response.status_code >= 400:
            await store.release(login, key)
            return response
        stored = StoredResponse(
            response.status_code,
            tuple(
                (name, value)
                for name, value in response.headers.items()
                if name.lower() in REPLAYED_HEADERS
            ),
            await response.get_data(as_text=False),
        )
        await store.complete(login, key, stored)
    except Exception:
        await store.release(login, key)
        raise
    return response


def _replay(held: IdempotentRequest, identity: str) -> Response:
    if held.request_hash != identity:
        raise Conflict(DIFFERENT)
    if held.response is None:
        # Claimed and not running in this process: only another process could hold it.
        raise Conflict(IN_PROGRESS, headers={"Retry-After": "1"})
    stored = held.response
    response = Response(stored.body, status=stored.status, headers=dict(stored.headers))
    response.headers["Idempotent-Replayed"] = "true"
    return response
