"""What every area's bodies share: the base struct, optional fields, errors and pages."""

from __future__ import annotations

from typing import Any, ClassVar, Generic, Literal, Self, TypeVar, Union

import msgspec
from msgspec import UNSET, UnsetType

T = TypeVar("T")
# A response field that may be absent but is never null (`name?: type` in api.md).
Opt = Union[T, UnsetType]  # noqa: UP007 (a generic alias: `T | UnsetType` cannot be subscripted)
JsonObject = dict[str, Any]


class Body(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A request or response body. ``SCHEMA_EXTRA`` adds JSON Schema keywords the types cannot
    say (examples, a rule across fields) to its OpenAPI component."""

    SCHEMA_EXTRA: ClassVar[dict[str, Any]] = {}


class Error(Body):
    status: str
    title: str
    detail: str


class ErrorResponse(Body):
    errors: list[Error]


class PaginationMeta(Body):
    has_more: bool


class Page(Body, Generic[T]):
    """A page of items (api.md §3). Each list's component is a named subclass, e.g.
    ``class PaginatedRunList(Page[RunListItem])``, which the document shows under its name."""

    data: list[T]
    meta: PaginationMeta

    @classmethod
    def of(cls, data: list[T], has_more: bool) -> Self:
        return cls(data=data, meta=PaginationMeta(has_more=has_more))


class RootResponse(Body):
    urls: JsonObject


class HealthResponse(Body):
    status: str


class UserResponse(Body):
    login: str
    # The principal's role (fabro), when server.toml has a [roles] table (docs/governance.md).
    role: Opt[Literal["viewer", "operator", "admin"]] = UNSET


class ModelRef(Body):
    id: str


class IdName(Body):
    id: str
    name: str


class WorkflowRef(Body):
    slug: str


class UsageNumbers(Body):
    input_tokens: int
    output_tokens: int
    cost: float


class UsageByModel(Body):
    model: ModelRef
    stages: int
    usage: UsageNumbers


class LlmConfig(Body):
    model: Opt[str] = UNSET
    provider: Opt[str] = UNSET


def sse_frame(data: dict[str, Any], events: tuple[str, ...], *, with_id: bool) -> dict[str, Any]:
    """One Server-Sent Event as OpenAPI 3.1 tools read a text/event-stream schema: its fields.

    ``data`` is the schema of the JSON in the ``data:`` field; ``events`` the values of the
    ``event:`` field (a frame without one is of the default type ``message``).
    """
    properties: dict[str, Any] = {
        "event": {"type": "string", "enum": list(events)},
        "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": data},
    }
    required = ["event", "data"]
    if with_id:
        properties["id"] = {"type": "string", "pattern": "^[0-9]+$"}
        required.append("id")
    return {"type": "object", "properties": properties, "required": required}
