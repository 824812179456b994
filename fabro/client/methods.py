"""The descriptors that make one function a method of both clients.

Each API method is written once, in ``fabro.client.endpoints``, as a function that builds
what to ask: a ``Call``, a ``PagedCall``, a ``StreamCall``, or a program of its own
(``fabro.client.core``). ``endpoint`` and ``program`` make it a method of ``FabroClient``
that returns the result and of ``AsyncFabroClient`` that returns an awaitable of it (mypy sees
both, through the overloads of ``__get__``); ``paged``, ``streamed`` and ``events`` make it an
iterator or an async iterator. The clients differ only in their driver's I/O
(``fabro.client.transport``).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, Concatenate, Generic, Literal, ParamSpec, TypeVar, overload

from fabro.client.calls import Call, PagedCall, StreamCall
from fabro.client.core import Events, Program, framing, paging, sending

if TYPE_CHECKING:
    from fabro.client.transport import AsyncTransport, SyncTransport

P = ParamSpec("P")
T = TypeVar("T")
# What a method's builder made, turned into the program its client drives.
ToProgram = Callable[[Any, Any], Any]
# How the generated reference words a method's result (fabro/client/reference.py).
Kind = Literal["call", "pages", "frames", "program", "events"]


def _bind(method: Returning[Any, Any] | Iterating[Any, Any], client: Any, drive: str) -> Any:
    """``method`` bound to ``client``: build, make the program, have the client ``drive`` it."""
    build, to_program, driver = method.build, method.to_program, getattr(client, drive)

    @functools.wraps(build)
    def bound(*args: Any, **kwargs: Any) -> Any:
        return driver(to_program(client, build(client, *args, **kwargs)))

    return bound


class Returning(Generic[P, T]):
    """A method of both clients with one result: ``T``, or an awaitable of it."""

    def __init__(self, build: Callable[..., Any], to_program: ToProgram, kind: Kind) -> None:
        self.build, self.to_program, self.kind = build, to_program, kind
        self.__doc__ = build.__doc__  # for help() and the generated reference

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Returning[P, T]: ...
    @overload
    def __get__(self, client: SyncTransport, owner: type[Any]) -> Callable[P, T]: ...
    @overload
    def __get__(self, client: AsyncTransport, owner: type[Any]) -> Callable[P, Awaitable[T]]: ...
    def __get__(self, client: Any, owner: type[Any]) -> Any:
        return self if client is None else _bind(self, client, "run")


class Iterating(Generic[P, T]):
    """A method of both clients handing out ``T`` after ``T``: an iterator, or an async one."""

    def __init__(self, build: Callable[..., Any], to_program: ToProgram, kind: Kind) -> None:
        self.build, self.to_program, self.kind = build, to_program, kind
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Iterating[P, T]: ...
    @overload
    def __get__(self, client: SyncTransport, owner: type[Any]) -> Callable[P, Iterator[T]]: ...
    @overload
    def __get__(
        self, client: AsyncTransport, owner: type[Any]
    ) -> Callable[P, AsyncIterator[T]]: ...
    def __get__(self, client: Any, owner: type[Any]) -> Any:
        return self if client is None else _bind(self, client, "iterate")


def _itself(client: Any, program: Any) -> Any:
    return program


def endpoint(build: Callable[Concatenate[Any, P], Call[T]]) -> Returning[P, T]:
    """A method sending one request: its decoded answer."""
    return Returning(build, lambda c, call: sending(call, c.retry, c.settings), "call")


def paged(build: Callable[Concatenate[Any, P], PagedCall[T]]) -> Iterating[P, T]:
    """A list method: every item, page after page."""
    return Iterating(build, lambda c, pages: paging(pages, c.retry, c.settings), "pages")


def program(build: Callable[Concatenate[Any, P], Program[T]]) -> Returning[P, T]:
    """A method that is a program of its own (``fabro.client.core``): its result."""
    return Returning(build, _itself, "program")


def events(build: Callable[Concatenate[Any, P], Events[T]]) -> Iterating[P, T]:
    """A method that is a program handing out events: each event as it comes."""
    return Iterating(build, _itself, "events")


def streamed(
    name: str,
    whole: Returning[P, Any],
    item: type[T],
    streaming: Callable[[Call[Any]], Call[Any]],
    doc: str,
) -> Iterating[P, T]:
    """The streamed twin ``name`` of the method ``whole``: the same arguments, its request
    changed by ``streaming`` (e.g. ``stream`` set), its frames decoded as ``item``."""
    build = whole.build

    @functools.wraps(build)  # the signature of ``whole`` (help() and the reference show it)
    def build_stream(client: Any, /, *args: P.args, **kwargs: P.kwargs) -> StreamCall[T]:
        return StreamCall(streaming(build(client, *args, **kwargs)), item)

    build_stream.__name__ = build_stream.__qualname__ = name
    build_stream.__doc__ = doc
    return Iterating(build_stream, lambda c, frames: framing(frames, c.settings), "frames")
