"""The sender: POSTs due deliveries, a bounded number at once, and logs every attempt.

What a receiver answers is untrusted: at most ``max_response_bytes`` of it is read, redirects
are not followed (a 3xx is a failure: a public URL cannot bounce a signed body elsewhere),
and every attempt has a timeout. An attempt that fails for any reason is logged and retried
per the ``RetryPolicy``; nothing a receiver does can end the sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import httpx

from fabro.storage.space import log_retried_failure
from fabro.storage.webhook_queue import AttemptResult, DeliveryQueue, DueDelivery
from fabro.webhooks.resolve import Resolver
from fabro.webhooks.retry import RetryPolicy
from fabro.webhooks.signing import signature_header

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 16
TIMEOUT_S = 10.0
MAX_RESPONSE_BYTES = 64 * 1024
# The longest the sender sleeps without looking for due deliveries (a redelivery or an
# enabled subscription needs no wake-up call then).
IDLE_S = 5.0
USER_AGENT = "fabro-webhooks/1"
# Finished deliveries are kept this long in the delivery log.
KEEP_S = 30 * 24 * 3600.0
PRUNE_EVERY_S = 3600.0


class Sender:
    """Delivers due deliveries until cancelled."""

    def __init__(
        self,
        queue: DeliveryQueue,
        open_secret: Callable[[DueDelivery], str],
        policy: RetryPolicy,
        *,
        max_in_flight: int = MAX_IN_FLIGHT,
        timeout_s: float = TIMEOUT_S,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.queue = queue
        self.open_secret = open_secret
        self.policy = policy
        self.max_in_flight = max_in_flight
        self.timeout_s = timeout_s
        self.max_response_bytes = max_response_bytes
        self.clock = clock
        self._wake = asyncio.Event()
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._pruned_at = 0.0
        self._resolver = Resolver()  # closed when run() ends

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        timeout = httpx.Timeout(self.timeout_s)
        # No idle connections: hosts are sent to by address (resolve.py), and a connection
        # checked for one name must not carry a request for another at that address.
        limits = httpx.Limits(max_connections=self.max_in_flight * 2, max_keepalive_connections=0)
        # trust_env=False: no proxy or .netrc from the server's environment is applied to
        # URLs that admins typed.
        async with httpx.AsyncClient(
            timeout=timeout, limits=limits, follow_redirects=False, trust_env=False
        ) as client:
            try:
                while True:
                    self._wake.clear()
                    try:
                        await self._start_due(client)
                        await self._maybe_prune()
                        wait_s = await self._idle_s()
                    except Exception:
                        log_retried_failure(log, "webhook sender failed to read due deliveries")
                        wait_s = IDLE_S
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(wait_s):
                            await self._wake.wait()
            finally:
                tasks = list(self._in_flight.values())
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                self._resolver.close()

    async def _start_due(self, client: httpx.AsyncClient) -> None:
        free = self.max_in_flight - len(self._in_flight)
        # Refill by halves: under a backlog one read then starts many deliveries, rather than
        # one read per delivery that finishes.
        if free <= 0 or (self._in_flight and free < self.max_in_flight // 2):
            return
        for due in await self.queue.due(free, exclude=list(self._in_flight)):
            self._in_flight[due.id] = asyncio.create_task(
                self._deliver(client, due), name="webhook-delivery"
            )

    async def _idle_s(self) -> float:
        if len(self._in_flight) >= self.max_in_flight // 2:
            return IDLE_S  # a finishing delivery wakes us
        next_due = await self.queue.next_due_s()
        if next_due is None:
            return IDLE_S
        return min(max(next_due - self.clock(), 0.0), IDLE_S)

    async def _maybe_prune(self) -> None:
        now = self.clock()
        if now - self._pruned_at >= PRUNE_EVERY_S:
            self._pruned_at = now
            await self.queue.prune(now - KEEP_S)

    async def _deliver(self, client: httpx.AsyncClient, due: DueDelivery) -> None:
        try:
            result = await self.attempt(client, due)
            await self.queue.record(result, self.policy)
            if not result.ok:
                log.info(
                    "webhook %s delivery %s attempt %d failed: %s",
                    due.webhook_id,
                    due.id,
                    due.attempts + 1,
                    result.error,
                )
        except Exception:
            log_retried_failure(log, "webhook delivery %s could not be recorded", due.id)
            await asyncio.sleep(IDLE_S)  # keeps its slot: no tight loop over a broken database
        finally:
            self._in_flight.pop(due.id, None)
            self._wake.set()

    async def attempt(self, client: httpx.AsyncClient, due: DueDelivery) -> AttemptResult:
        """POST ``due`` once, signed now; how it went."""
        body = due.body.encode("utf-8")
        timestamp = int(self.clock())
        try:
            secret = self.open_secret(due)
        except Exception as exc:  # a key file replaced or lost: this cannot sign, ever
            why = f"the signing secret cannot be opened ({type(exc).__name__})"
            return AttemptResult(due.id, False, None, None, why, 0, self.clock())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Accept-Encoding": "identity",  # read raw: no decompression bomb to cap
            "Fabro-Delivery": due.id,
            "Fabro-Timestamp": str(timestamp),
            "Fabro-Signature": signature_header(secret, timestamp, body),
        }
        started = time.monotonic()
        code: int | None = None
        text: str | None = None
        error: str | None = None
        try:
            async with asyncio.timeout(self.timeout_s):
                target = await self._resolver.target(due.url)
                headers["Host"] = target.host_header
                for number, url in enumerate(target.urls, start=1):
                    try:
                        async with client.stream(
                            "POST", url, content=body, headers=headers, extensions=target.extensions
                        ) as answer:
                            code = answer.status_code
                            text = await self._read_capped(answer)
                        break
                    except httpx.ConnectError:
                        if number == len(target.urls):
                            raise  # no address of the host took the connection
        except TimeoutError:
            error = f"no answer within {self.timeout_s:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except OSError as exc:  # the host's name did not resolve
            error = f"cannot resolve the host: {exc.strerror or exc}"
        latency_ms = round((time.monotonic() - started) * 1000)
        ok = code is not None and 200 <= code < 300
        if code is not None and not ok:
            error = f"HTTP {code}"
        return AttemptResult(due.id, ok, code, text, error, latency_ms, self.clock())

    async def _read_capped(self, answer: httpx.Response) -> str:
        chunks: list[bytes] = []
        size = 0
        async for chunk in answer.aiter_raw():
            chunks.append(chunk[: self.max_response_bytes - size])
            size += len(chunks[-1])
            if size >= self.max_response_bytes:
                break  # the rest is never read: closing the stream drops the connection
        return b"".join(chunks).decode("utf-8", "replace")
