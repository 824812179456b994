"""The route table of api.md §5.1: every operation once, with what OpenAPI needs to know.

``app.py`` registers each row with the handler of the same operationId (or the 501 handler
while it is not built), and ``openapi.py`` generates the document from the same rows, so the
routes and the document cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Mark = Literal["REAL", "LATER"]


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
    response: str | None = None  # component schema name, or None for no body
    media: str = "application/json"
    body: str | None = None  # request body schema name
    params: tuple[Param, ...] = ()
    paginated: bool = False
    public: bool = False  # no authentication (/, /health, /openapi.json)
    nullable: bool = False  # response may be JSON null
    events: str | None = None  # SSE: component schema of one event (text/event-stream)
    also: tuple[int, ...] = ()  # other success statuses with the same body (idempotent replay)
    location: bool = False  # the success response carries a Location header
    slashes: str | None = None  # the path parameter that may contain `/` (the last one)

    @property
    def quart_rule(self) -> str:
        rule = self.path
        if self.slashes:
            rule = rule.replace("{" + self.slashes + "}", "<path:" + self.slashes + ">")
        return rule.replace("{", "<").replace("}", ">")

    @property
    def all_params(self) -> tuple[Param, ...]:
        return self.params + PAGE if self.paginated else self.params

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


ROUTES: tuple[Route, ...] = (
    Route(
        "GET", "/", "getRoot", "System", "Discovery links", "REAL", 200, "RootResponse", public=True
    ),
    Route(
        "GET",
        "/health",
        "getHealth",
        "System",
        "Health check",
        "REAL",
        200,
        "HealthResponse",
        public=True,
    ),
    Route(
        "GET",
        "/openapi.json",
        "getOpenApiSpec",
        "System",
        "This OpenAPI document",
        "REAL",
        200,
        "OpenApiDocument",
        public=True,
    ),
    Route(
        "GET", "/user", "getUser", "System", "The authenticated user", "REAL", 200, "UserResponse"
    ),
    Route(
        "GET",
        "/runs",
        "listRuns",
        "Runs",
        "List runs, newest first",
        "REAL",
        200,
        "PaginatedRunList",
        paginated=True,
        params=(STATUS_FILTER, WORKFLOW_FILTER),
    ),
    Route(
        "POST",
        "/runs",
        "startRun",
        "Runs",
        "Start a run",
        "REAL",
        201,
        "StartRunResponse",
        body="StartRunRequest",
        params=(IDEMPOTENCY,),
        also=(200,),
        location=True,
    ),
    Route(
        "GET",
        "/runs/{id}",
        "retrieveRun",
        "Runs",
        "Retrieve a run",
        "REAL",
        200,
        "RunStatusResponse",
    ),
    Route(
        "POST",
        "/runs/{id}/cancel",
        "cancelRun",
        "Runs",
        "Cancel a run",
        "REAL",
        200,
        "RunStatusResponse",
    ),
    Route(
        "POST",
        "/runs/{id}/pause",
        "pauseRun",
        "Runs",
        "Pause a run at the next stage boundary",
        "REAL",
        200,
        "RunStatusResponse",
    ),
    Route(
        "POST",
        "/runs/{id}/unpause",
        "unpauseRun",
        "Runs",
        "Unpause a run",
        "REAL",
        200,
        "RunStatusResponse",
    ),
    Route(
        "GET",
        "/runs/{id}/graph",
        "retrieveRunGraph",
        "Runs",
        "The run's graph rendered by Graphviz",
        "REAL",
        200,
        None,
        media="image/svg+xml",
        params=(GRAPH_FORMAT,),
    ),
    Route(
        "GET",
        "/runs/{id}/checkpoint",
        "retrieveRunCheckpoint",
        "RunInternals",
        "The latest checkpoint",
        "REAL",
        200,
        "RunCheckpoint",
        nullable=True,
    ),
    Route(
        "GET",
        "/runs/{id}/context",
        "retrieveRunContext",
        "RunInternals",
        "The run context",
        "REAL",
        200,
        "RunContext",
    ),
    Route(
        "GET",
        "/runs/{id}/events",
        "streamRunEvents",
        "Runs",
        "Run events (Server-Sent Events)",
        "REAL",
        200,
        None,
        media="text/event-stream",
        params=(AFTER, LAST_EVENT_ID),
        events="RunEventFrame",
    ),
    Route(
        "GET",
        "/runs/{id}/questions",
        "listRunQuestions",
        "HumanInTheLoop",
        "Pending questions",
        "REAL",
        200,
        "PaginatedApiQuestionList",
        paginated=True,
    ),
    Route(
        "POST",
        "/runs/{id}/questions/{qid}/answer",
        "submitRunAnswer",
        "HumanInTheLoop",
        "Answer a question",
        "REAL",
        204,
        None,
        body="SubmitAnswerRequest",
    ),
    Route(
        "GET",
        "/runs/{id}/retro",
        "retrieveRetro",
        "Retros",
        "The run's retrospective",
        "REAL",
        200,
        "RetroDetail",
        nullable=True,
    ),
    Route(
        "GET",
        "/runs/{id}/stages",
        "listRunStages",
        "RunInternals",
        "Stage instances",
        "REAL",
        200,
        "PaginatedRunStageList",
        paginated=True,
    ),
    Route(
        "GET",
        "/runs/{id}/stages/{stageId}/turns",
        "listStageTurns",
        "RunInternals",
        "LLM turns of a stage",
        "REAL",
        200,
        "PaginatedStageTurnList",
        paginated=True,
    ),
    Route(
        "GET",
        "/runs/{id}/stages/{stageId}/artifacts",
        "listStageArtifacts",
        "RunInternals",
        "Files of a stage's folder (fabro)",
        "REAL",
        200,
        "PaginatedStageArtifactList",
        paginated=True,
    ),
    Route(
        "GET",
        "/runs/{id}/stages/{stageId}/artifacts/{name}",
        "retrieveStageArtifact",
        "RunInternals",
        "One file of a stage's folder, whole, a byte range or its last lines (fabro)",
        "REAL",
        200,
        None,
        media="text/plain",
        params=(TAIL, RANGE),
        also=(206,),
        slashes="name",
    ),
    Route(
        "GET",
        "/runs/{id}/files",
        "retrieveRunFiles",
        "RunOutputs",
        "Changed files",
        "LATER",
        200,
        "PaginatedRunFileList",
        paginated=True,
        params=(Param("checkpoint", "query"),),
    ),
    Route(
        "GET",
        "/runs/{id}/usage",
        "retrieveRunUsage",
        "Usage",
        "Token usage and cost of a run",
        "REAL",
        200,
        "RunUsage",
    ),
    Route(
        "GET",
        "/runs/{id}/verification",
        "retrieveRunVerification",
        "Verification",
        "Verification results",
        "LATER",
        200,
        "PaginatedRunVerificationList",
        paginated=True,
    ),
    Route(
        "GET",
        "/runs/{id}/configuration",
        "retrieveRunConfiguration",
        "Runs",
        "The run configuration",
        "REAL",
        200,
        "RunConfiguration",
    ),
    Route(
        "POST",
        "/runs/{id}/steer",
        "steerRun",
        "HumanInTheLoop",
        "Steer a running run",
        "REAL",
        202,
        None,
        body="SteerRequest",
    ),
    Route(
        "POST",
        "/runs/{id}/preview",
        "generatePreviewUrl",
        "RunOutputs",
        "Preview URL of a sandbox port",
        "LATER",
        201,
        "PreviewUrlResponse",
        body="PreviewUrlRequest",
    ),
    Route(
        "GET",
        "/workflows",
        "listWorkflows",
        "Workflows",
        "Registry workflows",
        "REAL",
        200,
        "PaginatedWorkflowList",
        paginated=True,
    ),
    Route(
        "GET",
        "/workflows/{name}",
        "retrieveWorkflow",
        "Workflows",
        "A registry workflow",
        "REAL",
        200,
        "WorkflowDetail",
    ),
    Route(
        "GET",
        "/workflows/{name}/runs",
        "listWorkflowRuns",
        "Workflows",
        "Runs of a workflow",
        "REAL",
        200,
        "PaginatedRunList",
        paginated=True,
    ),
    Route(
        "GET",
        "/verification/criteria",
        "listVerificationCriteria",
        "Verification",
        "Verification criteria",
        "LATER",
        200,
        "PaginatedVerificationCriterionList",
        paginated=True,
    ),
    Route(
        "GET",
        "/verification/criteria/{id}",
        "retrieveVerificationCriterion",
        "Verification",
        "A criterion",
        "LATER",
        200,
        "VerificationCriterionDetail",
    ),
    Route(
        "GET",
        "/verification/controls",
        "listVerificationControls",
        "Verification",
        "Verification controls",
        "LATER",
        200,
        "PaginatedVerificationControlList",
        paginated=True,
    ),
    Route(
        "GET",
        "/verification/controls/{id}",
        "retrieveVerificationControl",
        "Verification",
        "A control",
        "LATER",
        200,
        "VerificationDetailResponse",
    ),
    Route(
        "GET",
        "/verification/signoffs",
        "listSignoffs",
        "Verification",
        "Signoffs",
        "LATER",
        200,
        "PaginatedSignoffList",
        paginated=True,
    ),
    Route(
        "POST",
        "/verification/signoffs",
        "createSignoff",
        "Verification",
        "Create a signoff",
        "LATER",
        201,
        "Signoff",
        body="CreateSignoffRequest",
    ),
    Route(
        "GET",
        "/verification/signoffs/{id}",
        "retrieveSignoff",
        "Verification",
        "A signoff",
        "LATER",
        200,
        "Signoff",
    ),
    Route(
        "GET",
        "/retros",
        "listRetros",
        "Retros",
        "Retrospectives",
        "LATER",
        200,
        "PaginatedRetroList",
        paginated=True,
    ),
    Route(
        "GET",
        "/sessions",
        "listSessions",
        "Sessions",
        "Chat sessions",
        "REAL",
        200,
        "PaginatedSessionList",
        paginated=True,
    ),
    Route(
        "POST",
        "/sessions",
        "createSession",
        "Sessions",
        "Start a chat session",
        "REAL",
        201,
        "CreateSessionResponse",
        body="CreateSessionRequest",
        location=True,
    ),
    Route(
        "GET",
        "/sessions/{id}",
        "retrieveSession",
        "Sessions",
        "A chat session",
        "REAL",
        200,
        "SessionDetail",
    ),
    Route(
        "POST",
        "/sessions/{id}/messages",
        "sendSessionMessage",
        "Sessions",
        "Send a message",
        "REAL",
        202,
        "SendMessageResponse",
        body="SendMessageRequest",
    ),
    Route(
        "GET",
        "/sessions/{id}/events",
        "streamSessionEvents",
        "Sessions",
        "Session events (Server-Sent Events)",
        "REAL",
        200,
        None,
        media="text/event-stream",
        params=(AFTER, LAST_EVENT_ID),
        events="SessionEventFrame",
    ),
    Route(
        "GET",
        "/insights/queries",
        "listSavedQueries",
        "Insights",
        "Saved queries",
        "LATER",
        200,
        "PaginatedSavedQueryList",
        paginated=True,
    ),
    Route(
        "POST",
        "/insights/queries",
        "createSavedQuery",
        "Insights",
        "Save a query",
        "LATER",
        201,
        "SavedQuery",
        body="SaveQueryRequest",
    ),
    Route(
        "GET",
        "/insights/queries/{id}",
        "retrieveSavedQuery",
        "Insights",
        "A saved query",
        "LATER",
        200,
        "SavedQuery",
    ),
    Route(
        "PUT",
        "/insights/queries/{id}",
        "updateSavedQuery",
        "Insights",
        "Update a saved query",
        "LATER",
        200,
        "SavedQuery",
        body="SaveQueryRequest",
    ),
    Route(
        "DELETE",
        "/insights/queries/{id}",
        "deleteSavedQuery",
        "Insights",
        "Delete a saved query",
        "LATER",
        204,
        None,
    ),
    Route(
        "POST",
        "/insights/execute",
        "executeQuery",
        "Insights",
        "Execute a query",
        "LATER",
        200,
        "ExecuteQueryResponse",
        body="ExecuteQueryRequest",
    ),
    Route(
        "GET",
        "/insights/history",
        "listQueryHistory",
        "Insights",
        "Query history",
        "LATER",
        200,
        "PaginatedHistoryEntryList",
        paginated=True,
    ),
    Route(
        "GET",
        "/usage",
        "getAggregateUsage",
        "Usage",
        "Usage over all runs",
        "REAL",
        200,
        "AggregateUsage",
    ),
    Route(
        "GET",
        "/models",
        "listModels",
        "Models",
        "The model catalog",
        "REAL",
        200,
        "PaginatedModelList",
        paginated=True,
    ),
    Route(
        "POST",
        "/models/{id}/test",
        "testModel",
        "Models",
        "Test a model",
        "REAL",
        200,
        "ModelTestResult",
    ),
    Route(
        "POST",
        "/completions",
        "createCompletion",
        "Completions",
        "Create a completion",
        "REAL",
        200,
        "CompletionResponse",
        body="CreateCompletionRequest",
        events="CompletionStreamFrame",  # "stream" (default true) answers with SSE
    ),
    Route(
        "GET",
        "/settings",
        "retrieveServerConfiguration",
        "Settings",
        "The effective server configuration",
        "REAL",
        200,
        "ServerConfiguration",
    ),
)

PUBLIC_ENDPOINTS = frozenset(route.operation_id for route in ROUTES if route.public)
