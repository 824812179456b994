"""Both clients called the same way, so that one scenario runs through each: ``SyncSide``
over a FabroClient, ``AsyncSide`` over an AsyncFabroClient living on an event loop of its own
thread. ``call`` returns a method's result; ``take`` lists what an iterating method hands out
(up to the item ``until`` accepts, for streams that stay open)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Callable, Coroutine, Generator
from contextlib import aclosing, closing
from typing import Any, Protocol, TypeVar, cast

from fabro.client import AsyncFabroClient, FabroClient

T = TypeVar("T")
CALL_TIMEOUT_S = 60.0


class Side(Protocol):
    name: str

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any: ...

    def take(
        self, method: str, *args: Any, until: Callable[[Any], bool] | None = None, **kwargs: Any
    ) -> list[Any]: ...


class SyncSide:
    name = "sync"

    def __init__(self, client: FabroClient) -> None:
        self.client = client

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.client, method)(*args, **kwargs)

    def take(
        self, method: str, *args: Any, until: Callable[[Any], bool] | None = None, **kwargs: Any
    ) -> list[Any]:
        taken: list[Any] = []
        items = cast(Generator[Any, None, None], getattr(self.client, method)(*args, **kwargs))
        with closing(items):
            for item in items:
                taken.append(item)
                if until is not None and until(item):
                    break
        return taken


class AsyncSide:
    name = "async"

    def __init__(self, url: str, token: str | None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def open_client() -> AsyncFabroClient:
            return AsyncFabroClient(url, token=token, env={})

        self.client = self.run(open_client())

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(CALL_TIMEOUT_S)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self.run(getattr(self.client, method)(*args, **kwargs))

    def take(
        self, method: str, *args: Any, until: Callable[[Any], bool] | None = None, **kwargs: Any
    ) -> list[Any]:
        items = cast(AsyncGenerator[Any, None], getattr(self.client, method)(*args, **kwargs))
        return self.run(listed(items, until))

    def close(self) -> None:
        self.run(self.client.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


async def listed(
    items: AsyncGenerator[Any, None], until: Callable[[Any], bool] | None = None
) -> list[Any]:
    """What ``items`` yields, up to and including the first item ``until`` accepts."""
    taken: list[Any] = []
    async with aclosing(items):
        async for item in items:
            taken.append(item)
            if until is not None and until(item):
                break
    return taken
