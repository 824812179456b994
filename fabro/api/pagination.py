"""Offset pagination (api.md §3): `page[limit]` clamped to 1..100, `page[offset]` >= 0."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fabro.api.request import query_int

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


def paginated(data: list[Any], has_more: bool) -> dict[str, Any]:
    return {"data": data, "meta": {"has_more": has_more}}


def paginate(items: Sequence[Any]) -> dict[str, Any]:
    """Paginate an in-memory list with the request's page parameters."""
    data, has_more = page_params().slice(items)
    return paginated(data, has_more)
