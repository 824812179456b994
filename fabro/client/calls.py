"""What the SDK asks the server, as values (no I/O): one ``Call`` per request, one
``PagedCall`` per list, and the descriptors that turn the methods building them into methods
of both clients.

Each API method is written once, in ``fabro.client.endpoints``, as a function that builds
its ``Call``. ``endpoint`` makes it a method of ``FabroClient`` that returns the result and of
``AsyncFabroClient`` that returns an awaitable of it (mypy sees both, through the overloads
of ``__get__``); ``paged`` does the same for lists, as an iterator or an async iterator that
walks the pages. The clients differ only in how they send (``fabro.client.transport``).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, cast, overload

import httpx
import msgspec

from fabro.api.bodies.common import Page

if TYPE_CHECKING:
    from fabro.client.transport import AsyncTransport, SyncTransport

P = ParamSpec("P")
T = TypeVar("T")
PAGE_SIZE = 100  # the API's largest page


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and how to read its answer.

    ``result``: the type the JSON answer decodes into (a body struct of ``fabro.api.bodies``,
    the server's own), or None when the answer has no body. ``retry_safe``: the request may
    be sent again after a broken connection, a 429 or a 503 (reads, and writes that are
    idempotent by their nature or by their Idempotency-Key).
    """

    method: str
    path: str
    result: Any = None
    params: Mapping[str, str | int] = field(default_factory=dict)
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    retry_safe: bool = False

    def request(self) -> dict[str, Any]:
        """The keyword arguments of ``httpx.Client.request`` for this call."""
        headers = dict(self.headers)
        content = None
        if self.body is not None:
            content = msgspec.json.encode(self.body)
            headers["Content-Type"] = "application/json"
        return {
            "method": self.method,
            "url": self.path,
            "params": dict(self.params),
            "content": content,
            "headers": headers,
        }

    def decode(self, response: httpx.Response) -> T:
        if self.result is None:
            return cast(T, None)
        if self.result is bytes:
            return cast(T, response.content)
        return cast(T, msgspec.json.decode(response.content, type=self.result))


@dataclass(frozen=True)
class PagedCall(Generic[T]):
    """A list route: its items, page after page (offset pagination, api.md §3)."""

    path: str
    page_type: type[Page[T]]
    params: Mapping[str, str | int] = field(default_factory=dict)

    def page(self, offset: int) -> Call[Page[T]]:
        params = {**self.params, "page[limit]": PAGE_SIZE, "page[offset]": offset}
        return Call("GET", self.path, self.page_type, params=params, retry_safe=True)

    @staticmethod
    def next_offset(page: Page[T], offset: int) -> int | None:
        """Where the next page starts, or None after the last."""
        return offset + len(page.data) if page.meta.has_more and page.data else None


@dataclass(frozen=True)
class StreamCall(Generic[T]):
    """A request answered by Server-Sent Events (sent once: each try would be a new call):
    the data of each frame decoded as ``item``."""

    call: Call[Any]
    item: Any

    def decode(self, data: str) -> T:
        return cast(T, msgspec.json.decode(data, type=self.item))


def _bind(build: Callable[..., Any], client: Any, run: Callable[[Any], Any]) -> Any:
    """``build`` as a method of ``client``: build the request, hand it to ``run``."""

    @functools.wraps(build)
    def method(*args: Any, **kwargs: Any) -> Any:
        return run(build(client, *args, **kwargs))

    return method


class Endpoint(Generic[P, T]):
    """A method of both clients, from the function that builds its ``Call``."""

    def __init__(self, build: Callable[Concatenate[Any, P], Call[T]]) -> None:
        self.build = build
        self.__doc__ = build.__doc__  # for help() and the generated reference

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Endpoint[P, T]: ...
    @overload
    def __get__(self, client: SyncTransport, owner: type[Any]) -> Callable[P, T]: ...
    @overload
    def __get__(self, client: AsyncTransport, owner: type[Any]) -> Callable[P, Awaitable[T]]: ...
    def __get__(self, client: Any, owner: type[Any]) -> Any:
        return self if client is None else _bind(self.build, client, client.send)


class PagedEndpoint(Generic[P, T]):
    """A list method of both clients: an iterator (or async iterator) over every item."""

    def __init__(self, build: Callable[Concatenate[Any, P], PagedCall[T]]) -> None:
        self.build = build
        self.__doc__ = build.__doc__  # for help() and the generated reference

    @overload
    def __get__(self, client: None, owner: type[Any]) -> PagedEndpoint[P, T]: ...
    @overload
    def __get__(self, client: SyncTransport, owner: type[Any]) -> Callable[P, Iterator[T]]: ...
    @overload
    def __get__(
        self, client: AsyncTransport, owner: type[Any]
    ) -> Callable[P, AsyncIterator[T]]: ...
    def __get__(self, client: Any, owner: type[Any]) -> Any:
        return self if client is None else _bind(self.build, client, client.items)


class StreamedEndpoint(Generic[P, T]):
    """A streamed method of both clients: an iterator (or async iterator) over the frames."""

    def __init__(self, build: Callable[Concatenate[Any, P], StreamCall[T]]) -> None:
        self.build = build
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, client: None, owner: type[Any]) -> StreamedEndpoint[P, T]: ...
    @overload
    def __get__(self, client: SyncTransport, owner: type[Any]) -> Callable[P, Iterator[T]]: ...
    @overload
    def __get__(
        self, client: AsyncTransport, owner: type[Any]
    ) -> Callable[P, AsyncIterator[T]]: ...
    def __get__(self, client: Any, owner: type[Any]) -> Any:
        return self if client is None else _bind(self.build, client, client.frames)


def streamed(
    name: str,
    whole: Endpoint[P, Any],
    item: type[T],
    streaming: Callable[[Call[Any]], Call[Any]],
    doc: str,
) -> StreamedEndpoint[P, T]:
    """The streamed twin ``name`` of the method ``whole``: the same arguments, its request
    changed by ``streaming`` (e.g. ``stream`` set), its frames decoded as ``item``."""
    build = whole.build

    @functools.wraps(build)  # the signature of ``whole`` (help() and the reference show it)
    def build_stream(client: Any, /, *args: P.args, **kwargs: P.kwargs) -> StreamCall[T]:
        return StreamCall(streaming(build(client, *args, **kwargs)), item)

    build_stream.__name__ = build_stream.__qualname__ = name
    build_stream.__doc__ = doc
    return StreamedEndpoint(build_stream)


endpoint = Endpoint
paged = PagedEndpoint
