"""Offset pagination (api.md §3): `page[limit]` clamped to 1..100, `page[offset]` >= 0."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from fabro.api.bodies.common import Page
from fabro.api.request import query_int

T = TypeVar("T")
P = TypeVar("P", bound=Page[Any])

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True)
class PageParams:
    limit: int
    offset: int

    def slice(self, items: Sequence[Any]) -> tuple[list[Any], bool]:
        """Cut an in-memory list into this page; returns (items, has_more)."""
        window = list(items[self.offset : self.offset + self.limit + 1])
        return window[: self.limit], len(window) > self.limit


def page_params() -> PageParams:
    limit = query_int("page[limit]", DEFAULT_LIMIT)
    offset = query_int("page[offset]", 0, minimum=0)
    return PageParams(limit=min(max(limit, 1), MAX_LIMIT), offset=offset)


def paginate(page: type[P], items: Sequence[T]) -> P:
    """The request's page of an in-memory list, as the ``page`` body (a ``Page[T]``)."""
    data, has_more = page_params().slice(items)
    return page.of(data, has_more)
