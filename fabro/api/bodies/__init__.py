"""The API's request and response bodies (api.md), one typed definition each.

Each body is a ``msgspec.Struct``: handlers read requests with it (``fabro.api.request``), and
``fabro.api.openapi`` generates the document's components from it. ``COMPONENTS`` names every
component the route table (``fabro.api.routes``) may refer to.
"""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import Meta

from fabro.api.bodies import (
    audit,
    catalog,
    common,
    completions,
    events,
    questions,
    receipts,
    runs,
    schedules,
    secrets,
    sessions,
    stages,
    webhooks,
)
from fabro.api.bodies.common import JsonObject, sse_frame
from fabro.events.types import RUN_EVENT_TYPES

RunEvent = Annotated[
    dict[str, JsonObject],
    Meta(
        description='An externally tagged run event, e.g. {"StageStarted": {...}}.',
        min_length=1,
        max_length=1,
        extra_json_schema={"propertyNames": {"enum": sorted(RUN_EVENT_TYPES)}},
    ),
]


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


# Components that are not structs: schemas written out (SSE frames) or named plain types.
TYPES: dict[str, Any] = {
    "RunStatus": runs.RunStatus,
    "BoardColumn": runs.BoardColumn,
    "RunLabels": dict[runs.LabelKey, runs.LabelValue],
    "RunContext": JsonObject,
    "OpenApiDocument": JsonObject,
    "RunEvent": RunEvent,
}
# No event: lines (api.md §6.8): every run event frame has the default type.
FRAMES: dict[str, dict[str, Any]] = {
    "RunEventFrame": sse_frame(_ref("RunEvent"), ("message",), with_id=True),
    "GlobalEventFrame": sse_frame(_ref("GlobalEvent"), ("message",), with_id=True),
    "SessionEventFrame": sse_frame({"type": "object"}, sessions.SESSION_EVENTS, with_id=True),
    "CompletionStreamFrame": sse_frame(
        _ref("StreamEventType"), ("stream_event", "ping"), with_id=False
    ),
}


def _is_body(value: Any) -> bool:
    """A component: a body struct, not a base (Body, the generic Page) nor a module's private
    part of one."""
    return (
        isinstance(value, type)
        and issubclass(value, common.Body)
        and value not in (common.Body, common.Page)
        and not value.__name__.startswith("_")
    )


def _structs() -> dict[str, type[common.Body]]:
    found: dict[str, type[common.Body]] = {}
    for module in (
        *(common, runs, questions, stages, completions, sessions, catalog, receipts),
        *(audit, events, secrets, webhooks),
        *(schedules,),
    ):
        for value in vars(module).values():
            if _is_body(value):
                found[value.__name__] = value
    return found


STRUCTS = _structs()
