"""What the SDK asks the server, as values (no I/O): one ``Call`` per request, one
``PagedCall`` per list, one ``StreamCall`` per streamed answer. ``fabro.client.core`` says
how each is sent and read; ``fabro.client.methods`` makes the functions building them methods
of both clients."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

import httpx
import msgspec

from fabro.api.bodies.common import Page

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
        request: dict[str, Any] = {
            "method": self.method,
            "url": self.path,
            "content": content,
            "headers": headers,
        }
        if self.params:  # httpx replaces a query written in the path with any params given
            request["params"] = dict(self.params)
        return request

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
