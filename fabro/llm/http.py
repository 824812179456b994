"""HTTP plumbing shared by the providers: the client, retries with backoff, error mapping.

engine.md §10.2: connection errors, timeouts and HTTP 408/429/500/502/503/504/529 are retried
at most twice, after `Retry-After` (when ≤ 60 s; a longer one means no retry) or an exponential
backoff with jitter. What is left after the retries becomes an ``LlmError`` whose class tells the
stage how to fail.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx

from fabro.events.sse import Frame, aparse_stream
from fabro.events.storable import storable, storable_value
from fabro.llm.provider import (
    LlmError,
    LlmRequest,
    LlmResponse,
    OnRetry,
    RetryNotice,
    StreamEvent,
    StreamOpened,
    collect,
)

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 600.0
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})
MAX_RETRIES = 2
MAX_RETRY_AFTER_S = 60.0
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 60.0
_DETAIL_LIMIT = 500
_CONTEXT_MARKERS = (
    "context length",
    "context_length",
    "context window",
    "maximum context",
    "prompt is too long",
    "too many tokens",
    "input is too long",
)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


def new_client(transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """The providers' client: connect timeout 10 s, read timeout 600 s."""
    timeout = httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
    return httpx.AsyncClient(timeout=timeout, transport=transport)


class CallFailed(Exception):
    """One failed attempt; ``retry`` says whether another attempt may help."""

    def __init__(
        self,
        message: str,
        *,
        retry: bool,
        failure_class: str,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry = retry
        self.failure_class = failure_class
        self.retry_after_s = retry_after_s

    def final(self) -> LlmError:
        """The error a caller sees once no retry is left."""
        return LlmError(self.message, failure_class=self.failure_class, retryable=self.retry)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class HttpRetryPolicy:
    """How to wait between attempts; tests inject ``sleep`` and ``rng``."""

    sleep: Sleep = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)
    max_retries: int = MAX_RETRIES
    now: Callable[[], datetime] = _utcnow

    def delay(self, failure: CallFailed, retries_done: int) -> float | None:
        """Seconds to wait before the next attempt, or None when there is none."""
        if not failure.retry or retries_done >= self.max_retries:
            return None
        if failure.retry_after_s is not None:
            if failure.retry_after_s > MAX_RETRY_AFTER_S:
                return None
            return failure.retry_after_s
        backoff = min(BACKOFF_BASE_S * 2.0**retries_done, BACKOFF_CAP_S)
        return backoff * (0.5 + self.rng.random())


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds: a number of seconds or an HTTP date; None if unusable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - (now or _utcnow())).total_seconds(), 0.0)


async def call_with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    provider: str,
    model: str,
    policy: HttpRetryPolicy,
    on_retry: OnRetry | None,
) -> T:
    """Run ``attempt`` until it succeeds or no retry is left (then raise LlmError)."""
    retries = 0
    while True:
        try:
            return await attempt()
        except CallFailed as failure:
            delay = policy.delay(failure, retries)
            if delay is None:
                raise failure.final() from None
            retries += 1
            await _announce(on_retry, provider, model, retries, delay, failure)
            await policy.sleep(delay)


async def stream_with_retries(
    open_stream: Callable[[], AsyncGenerator[StreamEvent, None]],
    *,
    provider: str,
    model: str,
    policy: HttpRetryPolicy,
    on_retry: OnRetry | None,
) -> AsyncGenerator[StreamEvent, None]:
    """Events of ``open_stream``; it is retried only while no content has been passed on."""
    retries = 0
    while True:
        started = False
        stream = open_stream()
        try:
            async for event in stream:
                # StreamOpened carries nothing a new attempt would repeat.
                started = started or not isinstance(event, StreamOpened)
                yield event
            return
        except CallFailed as failure:
            # Once the caller has seen events, a new attempt would repeat them: fail instead.
            delay = None if started else policy.delay(failure, retries)
            if delay is None:
                raise failure.final() from None
            error = failure  # `failure` is unbound once the except clause ends
        finally:
            await stream.aclose()
        retries += 1
        await _announce(on_retry, provider, model, retries, delay, error)
        await policy.sleep(delay)


class RetryingProvider:
    """``complete`` and ``stream`` of a provider, built from its one-attempt generator.

    A provider sets ``name`` and ``policy`` and implements ``_attempt``; every call then gets
    the same retries (engine.md §10.2).
    """

    name: str
    policy: HttpRetryPolicy

    def _attempt(self, request: LlmRequest) -> AsyncGenerator[StreamEvent, None]:
        raise NotImplementedError

    async def complete(self, request: LlmRequest, on_retry: OnRetry | None = None) -> LlmResponse:
        return await call_with_retries(
            lambda: collect(self._attempt(request), request.model),
            provider=self.name,
            model=request.model,
            policy=self.policy,
            on_retry=on_retry,
        )

    def stream(
        self, request: LlmRequest, on_retry: OnRetry | None = None
    ) -> AsyncGenerator[StreamEvent, None]:
        return stream_with_retries(
            lambda: self._attempt(request),
            provider=self.name,
            model=request.model,
            policy=self.policy,
            on_retry=on_retry,
        )


async def _announce(
    on_retry: OnRetry | None,
    provider: str,
    model: str,
    attempt: int,
    delay: float,
    failure: CallFailed,
) -> None:
    if on_retry is not None:
        await on_retry(RetryNotice(provider, model, attempt, round(delay, 3), failure.message))


# ---- requests and responses ----------------------------------------------------------------


@asynccontextmanager
async def post_stream(
    client: httpx.AsyncClient,
    provider: str,
    url: str,
    headers: Mapping[str, str],
    body: dict[str, Any],
) -> AsyncIterator[httpx.Response]:
    """POST ``body`` and hand over the successful response; every failure is a CallFailed.

    Transport errors raised while the caller reads the body surface here too, so a stream
    dropped half way is a retryable connection failure like any other.
    """
    try:
        async with client.stream("POST", url, headers=dict(headers), json=body) as response:
            if response.status_code >= 400:
                text = (await response.aread()).decode("utf-8", errors="replace")
                raise status_failure(provider, response.status_code, text, response.headers)
            yield response
    except httpx.TimeoutException:
        raise CallFailed(
            f"LLM error: {provider} request timed out", retry=True, failure_class="transient_infra"
        ) from None
    except httpx.TransportError as exc:
        raise CallFailed(
            f"LLM error: {provider} connection failed: {_describe(exc)}",
            retry=True,
            failure_class="transient_infra",
        ) from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise malformed(provider, _describe(exc)) from None


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def status_failure(provider: str, status: int, body: str, headers: Mapping[str, str]) -> CallFailed:
    """An HTTP error status as a failure of the right class (engine.md §10.2)."""
    detail = error_detail(body) or httpx.codes.get_reason_phrase(status) or "error"
    message = f"LLM error: {provider} returned HTTP {status}: {detail}"
    if status in RETRY_STATUSES:
        return CallFailed(
            message,
            retry=True,
            failure_class="transient_infra",
            retry_after_s=retry_after_s(headers.get("retry-after")),
        )
    if status == 400 and any(marker in body.lower() for marker in _CONTEXT_MARKERS):
        return CallFailed(message, retry=False, failure_class="budget_exhausted")
    return CallFailed(message, retry=False, failure_class="deterministic")


def error_detail(body: str) -> str:
    """The provider's error message from a JSON error body, else the body's start."""
    return storable(_error_detail(body))


def _error_detail(body: str) -> str:
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        return " ".join(body.split())[:_DETAIL_LIMIT]
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])[:_DETAIL_LIMIT]
        if isinstance(error, str):
            return error[:_DETAIL_LIMIT]
    return " ".join(body.split())[:_DETAIL_LIMIT]


def malformed(provider: str, why: str) -> CallFailed:
    """A response that does not follow the protocol: not retried, a deterministic failure."""
    return CallFailed(
        f"LLM error: {provider} sent a malformed response: {why}",
        retry=False,
        failure_class="deterministic",
    )


def dropped(provider: str) -> CallFailed:
    return CallFailed(
        f"LLM error: {provider} stream ended before the response was complete",
        retry=True,
        failure_class="transient_infra",
    )


def is_event_stream(response: httpx.Response) -> bool:
    content_type: str = response.headers.get("content-type", "")
    return content_type.startswith("text/event-stream")


async def sse_frames(response: httpx.Response) -> AsyncIterator[Frame]:
    async for frame in aparse_stream(response.aiter_lines()):
        yield frame


def load_json(provider: str, text: str) -> dict[str, Any]:
    """One JSON object of a response, or a malformed-response failure.

    Every reply enters fabro here: its strings are made storable (a JSON `\\ud800` escape
    decodes to a lone surrogate, which no file or database can take).
    """
    try:
        data = storable_value(json.loads(text))
    except json.JSONDecodeError as exc:
        raise malformed(provider, f"invalid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise malformed(provider, "expected a JSON object")
    return data


async def read_json(provider: str, response: httpx.Response) -> dict[str, Any]:
    """A whole (non-streamed) JSON response body."""
    text = (await response.aread()).decode("utf-8", errors="replace")
    return load_json(provider, text)


def as_int(value: Any) -> int:
    """A token count from a usage object (missing or odd values count as 0)."""
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else 0
