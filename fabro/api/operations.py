"""What a row of the route table (``fabro.api.routes``) says of an operation, and the
parameters several operations share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from msgspec import Struct

from fabro.governance.roles import Role

Mark = Literal["REAL", "LATER"]
# A component schema: a body struct, named by its class so that mypy follows a rename, or the
# name of a component that is no struct (``fabro.api.bodies.TYPES``: OpenApiDocument, ...).
Component = type[Struct] | str


def component_name(component: Component) -> str:
    return component if isinstance(component, str) else component.__name__


@dataclass(frozen=True)
class Param:
    name: str
    where: Literal["path", "query", "header"]
    schema: dict[str, object] = field(default_factory=lambda: {"type": "string"})
    description: str = ""
    ref: str | None = None  # a shared component parameter (PageLimit, PageOffset)


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # OpenAPI form: /runs/{id}
    operation_id: str
    tag: str
    summary: str
    mark: Mark
    status: int  # success status
    response: Component | None = None  # the JSON body's component, or None for no body
    media: str = "application/json"
    body: Component | None = None  # the request body's component
    params: tuple[Param, ...] = ()
    paginated: bool = False
    public: bool = False  # no authentication (/, /health, /openapi.json)
    nullable: bool = False  # response may be JSON null
    events: str | None = None  # SSE: component schema of one event (text/event-stream)
    also: tuple[int, ...] = ()  # other success statuses with the same body (idempotent replay)
    location: bool = False  # the success response carries a Location header
    slashes: str | None = None  # the path parameter that may contain `/` (the last one)
    # The least role that may call it (fabro.governance.roles); None only on a public row.
    role: Role | None = None

    def __post_init__(self) -> None:
        # Checked at import, so that no row can forget its role (or give one to a public row).
        if self.public == (self.role is not None):
            need = "no role" if self.public else "a role"
            raise ValueError(f"route {self.operation_id} needs {need} (public={self.public})")

    @property
    def quart_rule(self) -> str:
        rule = self.path
        if self.slashes:
            rule = rule.replace("{" + self.slashes + "}", "<path:" + self.slashes + ">")
        return rule.replace("{", "<").replace("}", ">")

    @property
    def idempotent(self) -> bool:
        """Honours Idempotency-Key by replaying its first response (fabro/api/idempotency.py):
        every POST but a stream (nothing to replay) and one that lists the header itself
        (POST /runs, whose keys are its own: api.md §6.2)."""
        return self.method == "POST" and self.events is None and IDEMPOTENCY not in self.params

    @property
    def all_params(self) -> tuple[Param, ...]:
        params = (*self.params, IDEMPOTENCY) if self.idempotent else self.params
        return params + PAGE if self.paginated else params

    @property
    def path_params(self) -> list[str]:
        return [part[1:-1] for part in self.path.split("/") if part.startswith("{")]


PAGE = (
    Param("page[limit]", "query", ref="PageLimit"),
    Param("page[offset]", "query", ref="PageOffset"),
)
STATUS_FILTER = Param("status", "query", description="Comma-separated RunStatus values (fabro).")
WORKFLOW_FILTER = Param("workflow", "query", description="Registry workflow slug (fabro).")
IDEMPOTENCY = Param(
    "Idempotency-Key",
    "header",
    {"type": "string", "pattern": "^[\\x20-\\x7e]{1,255}$"},
    "1-255 printable ASCII characters (fabro).",
)
AFTER = Param(
    "after", "query", {"type": "integer", "minimum": 0}, "Replay events after this sequence."
)
LAST_EVENT_ID = Param("Last-Event-ID", "header", description="Replay events after this id.")
GRAPH_FORMAT = Param("format", "query", {"type": "string", "enum": ["svg", "png"]})
TAIL = Param(
    "tail",
    "query",
    {"type": "integer", "minimum": 1, "maximum": 10000},
    "Only the last N lines (fabro); not with Range.",
)
RANGE = Param(
    "Range",
    "header",
    {"type": "string", "pattern": "^bytes=([0-9]+-[0-9]*|-[0-9]+)$"},
    "One byte range: bytes=FIRST-LAST, bytes=FIRST- or bytes=-N (fabro).",
)
USAGE_PARAMS = (
    Param(
        "group_by",
        "query",
        {"type": "string", "pattern": "^(day|model|workflow|user)(,(day|model|workflow|user))*$"},
        "Comma-separated groupings (day, model, workflow, user): adds `groups` (fabro).",
    ),
    Param(
        "since",
        "query",
        {"type": "string"},
        "Only usage from then on: a date (UTC) or an RFC 3339 time (fabro).",
    ),
    Param(
        "until",
        "query",
        {"type": "string"},
        "Only usage before then: a date (its whole day included) or an RFC 3339 time (fabro).",
    ),
)
