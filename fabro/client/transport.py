"""The two drivers of the SDK's programs (fabro/client/core.py): ``SyncTransport`` over
``httpx.Client``, blocking, and ``AsyncTransport`` over ``httpx.AsyncClient``, awaiting. Every
decision (retries, paging, reconnecting, waiting) is the programs'; a driver only does the
I/O each command asks for and throws a transport error back into the program."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Self, TypeVar, cast

import httpx

from fabro.auth.client import async_http_client, http_client, resolve_client_settings
from fabro.client.core import (
    Command,
    Emit,
    Events,
    NextLine,
    Open,
    Program,
    Request,
    Sleep,
    Steps,
)
from fabro.client.retry import RetryPolicy

T = TypeVar("T")
R = TypeVar("R")
DEFAULT_TIMEOUT_S = 30.0
BULK_CONCURRENCY = 8  # programs of one ``Each`` in flight at once on the async client


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


class _Held:
    """The stream a driver holds open (one at a time), and its lines."""

    def __init__(self) -> None:
        self.response: httpx.Response | None = None
        self.lines: Any = None


class SyncTransport(Configured[httpx.Client]):
    """Drives programs in this thread; a context manager that closes its connections."""

    def connect(self, timeout: float, options: dict[str, Any]) -> httpx.Client:
        return http_client(self.settings, timeout=timeout, **options)

    def run(self, program: Program[R]) -> R:
        """What ``program`` returns, its I/O done here."""
        steps = Steps(program)
        for _ in self._drive(steps):
            pass
        return cast(R, steps.result)

    def iterate(self, program: Events[T]) -> Iterator[T]:
        """What ``program`` hands out, as it comes."""
        return self._drive(Steps(program))

    def _drive(self, steps: Steps[Any]) -> Iterator[Any]:
        held = _Held()
        try:
            while (command := steps.next()) is not None:
                if isinstance(command, Emit):
                    yield command.value
                    continue
                try:
                    steps.answer(self._do(command, held))
                except httpx.TransportError as exc:
                    self._close(held)
                    steps.fail(exc)
        finally:
            self._close(held)
            steps.close()

    def _do(self, command: Command, held: _Held) -> Any:
        """The I/O one command asks for; what it came to."""
        if isinstance(command, Request):
            return self.http.request(**command.call.request())
        if isinstance(command, Open):
            self._close(held)
            request = self.http.build_request(**command.call.request(), timeout=command.timeout)
            held.response = self.http.send(request, stream=True)
            if held.response.is_error:
                held.response.read()
            held.lines = held.response.iter_lines()
            return held.response
        if isinstance(command, NextLine):
            line = next(held.lines, None)
            if line is None:
                self._close(held)
            return line
        if isinstance(command, Sleep):
            time.sleep(command.seconds)
            return None
        return [self.run(program) for program in command.programs]

    @staticmethod
    def _close(held: _Held) -> None:
        if held.response is not None:
            held.response.close()
            held.response = held.lines = None

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
    """Drives programs on the running event loop; an async context manager."""

    def connect(self, timeout: float, options: dict[str, Any]) -> httpx.AsyncClient:
        return async_http_client(self.settings, timeout=timeout, **options)

    async def run(self, program: Program[R]) -> R:
        """As ``SyncTransport.run``, awaited."""
        steps = Steps(program)
        async for _ in self._drive(steps):
            pass
        return cast(R, steps.result)

    def iterate(self, program: Events[T]) -> AsyncIterator[T]:
        """As ``SyncTransport.iterate``, as an async iterator."""
        return self._drive(Steps(program))

    async def _drive(self, steps: Steps[Any]) -> AsyncIterator[Any]:
        held = _Held()
        try:
            while (command := steps.next()) is not None:
                if isinstance(command, Emit):
                    yield command.value
                    continue
                try:
                    steps.answer(await self._do(command, held))
                except httpx.TransportError as exc:
                    await self._close(held)
                    steps.fail(exc)
        finally:
            await self._close(held)
            steps.close()

    async def _do(self, command: Command, held: _Held) -> Any:
        """As ``SyncTransport._do``; the programs of ``Each`` run a few at a time."""
        if isinstance(command, Request):
            return await self.http.request(**command.call.request())
        if isinstance(command, Open):
            await self._close(held)
            request = self.http.build_request(**command.call.request(), timeout=command.timeout)
            held.response = await self.http.send(request, stream=True)
            if held.response.is_error:
                await held.response.aread()
            held.lines = held.response.aiter_lines()
            return held.response
        if isinstance(command, NextLine):
            line = await anext(held.lines, None)
            if line is None:
                await self._close(held)
            return line
        if isinstance(command, Sleep):
            await asyncio.sleep(command.seconds)
            return None
        gate = asyncio.Semaphore(BULK_CONCURRENCY)

        async def one(program: Program[Any]) -> Any:
            async with gate:
                return await self.run(program)

        tasks = [asyncio.ensure_future(one(program)) for program in command.programs]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            # The caller gets the first failure as it is; the others stop acting for it.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    @staticmethod
    async def _close(held: _Held) -> None:
        if held.response is not None:
            await held.response.aclose()
            held.response = held.lines = None

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
