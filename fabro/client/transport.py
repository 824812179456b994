"""How the two clients send a ``Call``: over ``httpx.Client`` or ``httpx.AsyncClient``, with
the same retry decisions (``RetryPolicy``), the same errors (``fabro.client.errors``) and the
same decoding (``Call.decode``). Only the waiting differs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Self, TypeVar, cast

import httpx

from fabro.api.bodies.runs import RunStatusResponse
from fabro.auth.client import (
    ClientSettings,
    async_http_client,
    http_client,
    resolve_client_settings,
)
from fabro.client.calls import Call, PagedCall, StreamCall
from fabro.client.endpoints import Endpoints
from fabro.client.endpoints.shared import run_path, segment
from fabro.client.errors import FabroApiError, FabroConnectionError, api_error
from fabro.client.retry import RetryPolicy
from fabro.client.streams import (
    STREAM_TIMEOUT,
    EventFollower,
    StreamedGlobalEvent,
    StreamedRunEvent,
    StreamedSessionEvent,
    events_path,
    global_event,
    run_event,
    session_event,
)
from fabro.events.sse import FrameParser

T = TypeVar("T")
E = TypeVar("E")
DEFAULT_TIMEOUT_S = 30.0
BULK_CONCURRENCY = 8  # cancels in flight at once from the async client


class Outcome:
    """What one try of a call came to, decided the same way for both clients: its result,
    or how long to wait before the next try; raises when no try is left."""

    def __init__(
        self,
        settings: ClientSettings,
        retry: RetryPolicy,
        call: Call[Any],
        attempt: int,
        answer: httpx.Response | httpx.TransportError,
    ) -> None:
        self.result: Any = None
        self.wait_s: float | None = None
        if isinstance(answer, httpx.Response):
            if answer.is_success:
                self.result = call.decode(answer)
                return
            self.wait_s = retry.delay(call, attempt, answer)
            if self.wait_s is None:
                raise api_error(answer)
            return
        self.wait_s = retry.delay(call, attempt, None)
        if self.wait_s is None:
            raise FabroConnectionError(settings.unreachable(answer)) from answer


H = TypeVar("H", httpx.Client, httpx.AsyncClient)


class Configured(Generic[H]):
    """A client's settings, found as the CLI finds them (cli.md §6): the arguments, then
    FABRO_SERVER/FABRO_TOKEN and ~/.fabro/cli.toml, then the server running on this machine's
    data directory (with a short token minted from its key). ``token``: a JWT;
    ``cert``/``key``/``ca``: mutual TLS; ``timeout``: seconds per request; ``retries``: how
    many more times a request safe to repeat is sent after a connection error, a 429 or a 503.
    Nothing is global: each client holds its own settings and connections."""

    def __init__(
        self,
        server: str | None = None,
        *,
        token: str | None = None,
        cert: str | Path | None = None,
        key: str | Path | None = None,
        ca: str | Path | None = None,
        data_dir: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        retries: int = 3,
        **httpx_options: Any,
    ) -> None:
        self.settings = resolve_client_settings(
            server=server, token=token, cert=cert, key=key, ca=ca, data_dir=data_dir, env=env
        )
        self.retry = RetryPolicy(retries=retries)
        self.http: H = self.connect(timeout, httpx_options)

    def connect(self, timeout: float, options: dict[str, Any]) -> H:
        raise NotImplementedError


def _remaining(deadline: float | None) -> httpx.Timeout:
    """The stream's timeouts, its reads cut short by what is left of ``deadline``."""
    if deadline is None:
        return STREAM_TIMEOUT
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the run did not end in time")
    return httpx.Timeout(min(10.0, left), read=min(60.0, left))


def _check_deadline(deadline: float | None, error: Exception) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise TimeoutError("the run did not end in time") from error


class SyncTransport(Configured[httpx.Client]):
    """Sends calls in this thread; a context manager that closes its connections."""

    def connect(self, timeout: float, options: dict[str, Any]) -> httpx.Client:
        return http_client(self.settings, timeout=timeout, **options)

    def send(self, call: Call[T]) -> T:
        """The decoded answer of ``call``, sent again while the retry policy allows."""
        attempt = 0
        while True:
            answer: httpx.Response | httpx.TransportError
            try:
                answer = self.http.request(**call.request())
            except httpx.TransportError as exc:
                answer = exc
            outcome = Outcome(self.settings, self.retry, call, attempt, answer)
            if outcome.wait_s is None:
                return cast(T, outcome.result)
            time.sleep(outcome.wait_s)
            attempt += 1

    def items(self, paged: PagedCall[T]) -> Iterator[T]:
        """Every item of a list, fetching the next page when the last one is used up."""
        offset: int | None = 0
        while offset is not None:
            page = self.send(paged.page(offset))
            yield from page.data
            offset = paged.next_offset(page, offset)

    def frames(self, streamed: StreamCall[T]) -> Iterator[T]:
        """The frames of a streamed answer as they arrive, sent once (never retried)."""
        try:
            with self.http.stream(**streamed.call.request(), timeout=STREAM_TIMEOUT) as response:
                if response.status_code >= 400:
                    response.read()
                    raise api_error(response)
                parser = FrameParser()
                for line in response.iter_lines():
                    if (frame := parser.feed(line)) is not None:
                        yield streamed.decode(frame.data)
        except httpx.TransportError as exc:
            raise FabroConnectionError(self.settings.unreachable(exc)) from exc

    def stream_run_events(
        self, run_id: str, *, after: int = 0, timeout: float | None = None
    ) -> Iterator[StreamedRunEvent]:
        """The run's events after ``after`` (an event's ``seq``), each exactly once and in
        order, until the run has no more: reconnecting with Last-Event-ID after a dropped
        connection or a server restart (fabro/client/streams.py). ``timeout``: seconds in all
        (TimeoutError after)."""
        path = run_path(run_id, "events")
        return self.follow(EventFollower(self.settings, path, after, run_event), timeout)

    def stream_session_events(
        self, session_id: str, *, after: int = -1
    ) -> Iterator[StreamedSessionEvent]:
        """A chat session's events after ``after`` (-1: all, from 0), each once and in order,
        reconnecting as ``stream_run_events`` does; the stream stays open: stop reading when
        done (e.g. after the `done` event)."""
        path = f"/sessions/{segment(session_id)}/events"
        return self.follow(EventFollower(self.settings, path, after, session_event), None)

    def stream_events(
        self,
        *,
        after: int = 0,
        run: str | None = None,
        workflow: str | None = None,
        labels: Mapping[str, str] | None = None,
        types: Iterable[str] = (),
        timeout: float | None = None,
    ) -> Iterator[StreamedGlobalEvent]:
        """Every run's events after the global position ``after`` (an event's ``position``),
        each exactly once and in order, or those of one ``run``, of one registry ``workflow``'s
        runs, of runs with every one of ``labels``, of the event ``types`` (variants); the
        stream stays open, reconnecting with Last-Event-ID across server restarts: stop
        reading when done. ``timeout``: seconds in all (TimeoutError after)."""
        path = events_path(run, workflow, labels, types)
        return self.follow(EventFollower(self.settings, path, after, global_event), timeout)

    def follow(self, follower: EventFollower[E], timeout: float | None) -> Iterator[E]:
        """The events of ``follower``'s stream, over as many connections as it takes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not follower.done:
            limit = _remaining(deadline)
            try:
                with self.http.stream(
                    "GET", follower.path, headers=follower.headers(), timeout=limit
                ) as response:
                    if response.status_code >= 400:
                        response.read()
                        follower.refused(response)
                        continue
                    follower.opened()
                    for line in response.iter_lines():
                        if (event := follower.line(line)) is not None:
                            yield event
            except httpx.TransportError as exc:
                _check_deadline(deadline, exc)
                time.sleep(follower.broken(exc))

    def wait_for_run(self, run_id: str, *, timeout: float | None = None) -> RunStatusResponse:
        """The run once it is completed, failed or cancelled, following its events (not
        polling); TimeoutError after ``timeout`` seconds."""
        for _ in self.stream_run_events(run_id, timeout=timeout):
            pass
        return self.send(Endpoints.get_run.build(self, run_id))

    def cancel_runs(self, run_ids: Iterable[str]) -> dict[str, RunStatusResponse | FabroApiError]:
        """Cancel several runs: each run's new status, or the error its cancel got (a
        ConflictError for a run already over), so that one refusal stops none of the others."""
        results: dict[str, RunStatusResponse | FabroApiError] = {}
        for run_id in run_ids:
            try:
                results[run_id] = self.send(Endpoints.cancel_run.build(self, run_id))
            except FabroApiError as refused:
                results[run_id] = refused
        return results

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncTransport(Configured[httpx.AsyncClient]):
    """Sends calls on the running event loop; an async context manager."""

    def connect(self, timeout: float, options: dict[str, Any]) -> httpx.AsyncClient:
        return async_http_client(self.settings, timeout=timeout, **options)

    async def send(self, call: Call[T]) -> T:
        """As ``SyncTransport.send``, awaiting instead of blocking."""
        attempt = 0
        while True:
            answer: httpx.Response | httpx.TransportError
            try:
                answer = await self.http.request(**call.request())
            except httpx.TransportError as exc:
                answer = exc
            outcome = Outcome(self.settings, self.retry, call, attempt, answer)
            if outcome.wait_s is None:
                return cast(T, outcome.result)
            await asyncio.sleep(outcome.wait_s)
            attempt += 1

    async def items(self, paged: PagedCall[T]) -> AsyncIterator[T]:
        offset: int | None = 0
        while offset is not None:
            page = await self.send(paged.page(offset))
            for item in page.data:
                yield item
            offset = paged.next_offset(page, offset)

    async def frames(self, streamed: StreamCall[T]) -> AsyncIterator[T]:
        """As ``SyncTransport.frames``, as an async iterator."""
        try:
            async with self.http.stream(
                **streamed.call.request(), timeout=STREAM_TIMEOUT
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise api_error(response)
                parser = FrameParser()
                async for line in response.aiter_lines():
                    if (frame := parser.feed(line)) is not None:
                        yield streamed.decode(frame.data)
        except httpx.TransportError as exc:
            raise FabroConnectionError(self.settings.unreachable(exc)) from exc

    def stream_run_events(
        self,
        run_id: str,
        *,
        after: int = 0,
        timeout: float | None = None,
    ) -> AsyncIterator[StreamedRunEvent]:
        """As ``SyncTransport.stream_run_events``, as an async iterator."""
        path = run_path(run_id, "events")
        return self.follow(EventFollower(self.settings, path, after, run_event), timeout)

    def stream_session_events(
        self, session_id: str, *, after: int = -1
    ) -> AsyncIterator[StreamedSessionEvent]:
        """As ``SyncTransport.stream_session_events``, as an async iterator."""
        path = f"/sessions/{segment(session_id)}/events"
        return self.follow(EventFollower(self.settings, path, after, session_event), None)

    def stream_events(
        self,
        *,
        after: int = 0,
        run: str | None = None,
        workflow: str | None = None,
        labels: Mapping[str, str] | None = None,
        types: Iterable[str] = (),
        timeout: float | None = None,
    ) -> AsyncIterator[StreamedGlobalEvent]:
        """As ``SyncTransport.stream_events``, as an async iterator."""
        path = events_path(run, workflow, labels, types)
        return self.follow(EventFollower(self.settings, path, after, global_event), timeout)

    async def follow(
        self,
        follower: EventFollower[E],
        timeout: float | None,  # noqa: ASYNC109 (the blocking client's signature)
    ) -> AsyncIterator[E]:
        """As ``SyncTransport.follow``, as an async iterator."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not follower.done:
            limit = _remaining(deadline)
            try:
                async with self.http.stream(
                    "GET", follower.path, headers=follower.headers(), timeout=limit
                ) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        follower.refused(response)
                        continue
                    follower.opened()
                    async for line in response.aiter_lines():
                        if (event := follower.line(line)) is not None:
                            yield event
            except httpx.TransportError as exc:
                _check_deadline(deadline, exc)
                await asyncio.sleep(follower.broken(exc))

    async def wait_for_run(
        self,
        run_id: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (the blocking client's signature)
    ) -> RunStatusResponse:
        """As ``SyncTransport.wait_for_run``, awaited."""
        async for _ in self.stream_run_events(run_id, timeout=timeout):
            pass
        return await self.send(Endpoints.get_run.build(self, run_id))

    async def cancel_runs(
        self, run_ids: Iterable[str]
    ) -> dict[str, RunStatusResponse | FabroApiError]:
        """As ``SyncTransport.cancel_runs``, the cancels sent a few at a time."""
        gate = asyncio.Semaphore(BULK_CONCURRENCY)

        async def cancel(run_id: str) -> RunStatusResponse | FabroApiError:
            async with gate:
                try:
                    return await self.send(Endpoints.cancel_run.build(self, run_id))
                except FabroApiError as refused:
                    return refused

        ids = list(dict.fromkeys(run_ids))
        return dict(zip(ids, await asyncio.gather(*map(cancel, ids)), strict=True))

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
