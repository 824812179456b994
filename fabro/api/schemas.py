"""JSON Schemas of the API's bodies (api.md), written compactly and expanded for OpenAPI.

Each object schema is a list of ``"name: type"`` fields; ``name?`` is optional. Types:
``string``, ``integer``, ``number``, ``boolean``, ``object`` (free-form), ``map`` (object of
strings), ``any``, ``[T]`` (array), ``T | null``, a quoted enum ``'a'|'b'``, or another
component's name.
"""

from __future__ import annotations

from typing import Any

from fabro.events.types import RUN_EVENT_TYPES

_SCALARS = {"string", "integer", "number", "boolean"}


def _type(spec: str) -> dict[str, Any]:
    spec = spec.strip()
    if spec.endswith("| null"):
        inner = _type(spec[: -len("| null")])
        return {"oneOf": [inner, {"type": "null"}]}
    if spec.startswith("'"):
        return {"type": "string", "enum": [part.strip().strip("'") for part in spec.split("|")]}
    if spec.startswith("[") and spec.endswith("]"):
        return {"type": "array", "items": _type(spec[1:-1])}
    if spec in _SCALARS:
        return {"type": spec}
    if spec == "object":
        return {"type": "object"}
    if spec == "map":
        return {"type": "object", "additionalProperties": {"type": "string"}}
    if spec == "any":
        return {}
    return {"$ref": f"#/components/schemas/{spec}"}


def obj(*fields: str, description: str = "") -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for entry in fields:
        name, _, spec = entry.partition(":")
        name = name.strip()
        if name.endswith("?"):
            name = name[:-1]
        else:
            required.append(name)
        properties[name] = _type(spec)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if description:
        schema["description"] = description
    return schema


def with_limits(schema: dict[str, Any], **limits: Any) -> dict[str, Any]:
    """Add keywords to ``schema``: ``name={...}`` to that property's schema, else to the schema
    itself (``oneOf=[...]``)."""
    for name, keywords in limits.items():
        if name in schema["properties"]:
            schema["properties"][name].update(keywords)
        else:
            schema[name] = keywords
    return schema


def page(item: str) -> dict[str, Any]:
    return obj(f"data: [{item}]", "meta: PaginationMeta")


def sse_frame(data: dict[str, Any], *, event: list[str], id_: bool) -> dict[str, Any]:
    """One Server-Sent Event as OpenAPI 3.1 tools read a text/event-stream schema: its fields.

    ``data`` is the schema of the JSON in the ``data:`` field; ``event`` the values of the
    ``event:`` field (a frame without one is of the default type ``message``); ``id_``: every
    frame has an id.
    """
    properties: dict[str, Any] = {
        "event": {"type": "string", "enum": event},
        "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": data},
    }
    required = ["event", "data"]
    if id_:
        properties["id"] = {"type": "string", "pattern": "^[0-9]+$"}
        required.append("id")
    return {"type": "object", "properties": properties, "required": required}


_JSON_OBJECT = {"type": "object"}

# Request examples (api.md), also the first requests an API fuzzer sends.
EXAMPLE_DOT = """digraph Hello {
  graph [goal="Add a /health endpoint"]
  start [shape=Mdiamond]
  implement [label="Implement", prompt="Implement: $goal"]
  exit [shape=Msquare]
  start -> implement -> exit
}"""

RUN_STATUSES = "'queued'|'starting'|'running'|'paused'|'completed'|'failed'|'cancelled'"

SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": obj("status: string", "title: string", "detail: string"),
    "ErrorResponse": obj("errors: [Error]"),
    "PaginationMeta": obj("has_more: boolean"),
    "RootResponse": obj("urls: object"),
    "HealthResponse": obj("status: string"),
    "OpenApiDocument": {"type": "object"},
    "UserResponse": obj("login: string"),
    "RunStatus": _type(RUN_STATUSES),
    "RunStatusResponse": obj(
        "id: string",
        "status: RunStatus",
        "created_at: string",
        "error?: RunError",
        "queue_position?: integer",
        "title?: string",
        "workflow?: WorkflowRef | null",
        "goal?: string",
        "labels?: map",
        "current_node?: string",
        "started_at?: string",
        "finished_at?: string",
        "pending_question?: PendingQuestion",
    ),
    "RunError": obj("message: string"),
    "WorkflowRef": obj("slug: string"),
    "PendingQuestion": obj("id: string", "text: string"),
    "Diagnostic": obj(
        "rule: string",
        "severity: 'error'|'warning'|'info'",
        "message: string",
        "node_id?: string",
        "edge?: EdgeRef",
    ),
    "EdgeRef": obj("from: string", "to: string"),
    "StartRunResponse": {
        "allOf": [
            {"$ref": "#/components/schemas/RunStatusResponse"},
            obj("warnings?: [Diagnostic]"),
        ]
    },
    "StartRunRequest": with_limits(
        obj(
            "dot_source?: string",
            "workflow?: string",
            "goal?: string",
            "vars?: map",
            "labels?: RunLabels",
            "title?: string",
        ),
        title={"maxLength": 200},
        # api.md §6.2: exactly one of dot_source / workflow.
        oneOf=[{"required": ["dot_source"]}, {"required": ["workflow"]}],
        examples=[
            {
                "dot_source": EXAMPLE_DOT,
                "goal": "Add a /health endpoint",
                "labels": {"team": "web"},
            },
            {"workflow": "fix_build", "vars": {"repo": "api"}},
        ],
    ),
    "RunLabels": {
        "type": "object",
        "propertyNames": {"pattern": "^[A-Za-z0-9_.-]{1,64}$"},
        "additionalProperties": {"type": "string", "maxLength": 256},
    },
    # The original's board item (api.md §6.3); fabro's status is `run_status`, and the other
    # RunStatusResponse fields follow it.
    "RunListItem": obj(
        "id: string",
        "repository: RepositoryRef",
        "title: string",
        "workflow: WorkflowRef",
        "status: BoardColumn",
        "created_at: string",
        "question?: RunQuestion",
        "timings?: RunTimings",
        "run_status: RunStatus",
        "error?: RunError",
        "queue_position?: integer",
        "goal?: string",
        "labels?: map",
        "current_node?: string",
        "started_at?: string",
        "finished_at?: string",
        "pending_question?: PendingQuestion",
    ),
    "BoardColumn": _type("'working'|'pending'|'review'|'merge'"),
    "RepositoryRef": obj("name: string"),
    "RunQuestion": obj("text: string"),
    "RunTimings": obj("elapsed_secs: number"),
    "PaginatedRunList": page("RunListItem"),
    "RunCheckpoint": obj(
        "timestamp: string",
        "current_node: string",
        "completed_nodes: [string]",
        "node_retries: object",
        "context_values: object",
        "logs: [string]",
        "node_outcomes?: object",
        "next_node_id?: string",
        "git_commit_sha?: string",
        "loop_failure_signatures?: object",
        "restart_failure_signatures?: object",
        "node_visits?: object",
    ),
    "RunContext": {"type": "object"},
    "QuestionOption": obj("key: string", "label: string"),
    "ApiQuestion": obj(
        "id: string",
        "text: string",
        "question_type: 'yes_no'|'multiple_choice'|'multi_select'|'freeform'|'confirmation'",
        "options: [QuestionOption]",
        "allow_freeform: boolean",
        "stage?: string",
        "created_at?: string",
    ),
    "PaginatedApiQuestionList": page("ApiQuestion"),
    "SubmitAnswerRequest": with_limits(
        obj("value?: string", "selected_option_key?: string", "selected_option_keys?: [string]"),
        examples=[
            {"selected_option_key": "A"},
            {"selected_option_keys": ["A", "R"]},
            {"value": "Approve, but keep the old endpoint"},
        ],
    ),
    "StageRetro": obj(
        "stage_id: string",
        "stage_label: string",
        "status: string",
        "duration_ms: integer",
        "retries: integer",
        "cost?: number",
        "notes?: string",
        "failure_reason?: string",
        "files_touched: [string]",
    ),
    "RetroStats": obj(
        "total_duration_ms: integer",
        "total_cost?: number",
        "total_retries: integer",
        "files_touched: [string]",
        "stages_completed: integer",
        "stages_failed: integer",
    ),
    "RetroDetail": obj(
        "run_id: string",
        "workflow_name: string",
        "goal: string",
        "timestamp: string",
        "stages: [StageRetro]",
        "stats: RetroStats",
        "smoothness?: 'effortless'|'smooth'|'bumpy'|'struggled'|'failed'",
        "intent?: string",
        "outcome?: string",
        "learnings?: [object]",
        "friction_points?: [object]",
        "open_items?: [object]",
    ),
    "RunStage": obj(
        "id: string",
        "name: string",
        "status: 'completed'|'failed'|'running'|'cancelled'|'pending'",
        "duration_secs?: number",
        "dot_id: string",
    ),
    "PaginatedRunStageList": page("RunStage"),
    "ToolUse": obj(
        "id: string",
        "tool_name: string",
        "input: string",
        "result: string",
        "is_error: boolean",
        "duration_ms?: integer",
    ),
    "StageTurn": obj("kind: 'system'|'assistant'|'tool'", "content?: string", "tools?: [ToolUse]"),
    "PaginatedStageTurnList": page("StageTurn"),
    "StageArtifact": with_limits(
        obj(
            "name: string",
            "size: integer",
            "updated_at: string",
            description="A file of a stage's folder; name is relative, with / (fabro).",
        ),
        size={"minimum": 0},
    ),
    "PaginatedStageArtifactList": page("StageArtifact"),
    "FileDiff": obj("old_file: FileContents", "new_file: FileContents"),
    "FileContents": obj("name: string", "contents: string"),
    "PaginatedRunFileList": page("FileDiff"),
    "UsageNumbers": obj("input_tokens: integer", "output_tokens: integer", "cost: number"),
    "IdName": obj("id: string", "name: string"),
    "ModelRef": obj("id: string"),
    "UsageStage": obj(
        "stage: IdName", "model: ModelRef", "usage: UsageNumbers", "runtime_secs: number"
    ),
    "UsageByModel": obj("model: ModelRef", "stages: integer", "usage: UsageNumbers"),
    "RunUsage": obj(
        "stages: [UsageStage]",
        "totals: object",
        "by_model: [UsageByModel]",
    ),
    "RunVerification": obj(
        "name: string", "question: string", "status: string", "controls: [object]"
    ),
    "PaginatedRunVerificationList": page("RunVerification"),
    "LlmConfig": obj("model?: string", "provider?: string"),
    "RunConfiguration": obj(
        "version: integer",
        "graph: string",
        "goal?: string",
        "directory?: string",
        "llm?: LlmConfig",
        "vars?: map",
        "graph_name?: string",
        "labels?: map",
        "title?: string",
        "dry_run?: boolean",
    ),
    "SteerLocation": obj("file: string", "line?: integer"),
    "SteerRequest": with_limits(
        obj("guidance: string", "location?: SteerLocation"),
        guidance={"minLength": 1},
        examples=[
            {
                "guidance": "Use the existing HTTP client instead of adding a new dependency.",
                "location": {"file": "src/app.py", "line": 42},
            }
        ],
    ),
    "PreviewUrlRequest": obj("port: integer", "expires_in_secs: integer"),
    "PreviewUrlResponse": obj("url: string"),
    "WorkflowListItem": obj(
        "name: string",
        "slug: string",
        "filename: string",
        "last_run?: LastRun",
        "schedule?: object",
    ),
    "LastRun": obj("ran_at: string"),
    "PaginatedWorkflowList": page("WorkflowListItem"),
    "WorkflowDetail": obj(
        "name: string",
        "slug: string",
        "filename: string",
        "description: string",
        "config: RunConfiguration",
        "graph: string",
    ),
    "VerificationControl": obj(
        "name: string",
        "slug: string",
        "description: string",
        "type: string",
        "mode?: 'active'|'evaluate'|'disabled'",
        "f1?: number",
        "pass_at_1?: number",
    ),
    "VerificationCriterionDetail": obj(
        "name: string", "question: string", "controls: [VerificationControl]"
    ),
    "PaginatedVerificationCriterionList": page("VerificationCriterionDetail"),
    "PaginatedVerificationControlList": page("VerificationControl"),
    "VerificationDetailResponse": obj(
        "control: object",
        "performance: object",
        "control_detail: object",
        "recent_results: [object]",
        "siblings: [object]",
    ),
    "Signoff": obj(
        "id: string",
        "control: object",
        "repository: object",
        "commit_sha: string",
        "status: 'pass'|'fail'|'pending'",
        "url?: string",
        "description?: string",
        "source?: string",
        "created_at: string",
    ),
    "PaginatedSignoffList": page("Signoff"),
    "CreateSignoffRequest": obj(
        "control: string",
        "repository: string",
        "commit_sha: string",
        "status: 'pass'|'fail'|'pending'",
        "url?: string",
        "description?: string",
        "source?: string",
    ),
    "RetroListItem": obj(
        "run: object",
        "workflow: WorkflowRef",
        "timestamp: string",
        "smoothness?: string",
        "stats: RetroStats",
        "friction_point_count: integer",
    ),
    "PaginatedRetroList": page("RetroListItem"),
    "SessionListItem": obj(
        "id: string",
        "title: string",
        "model: ModelRef",
        "last_message_preview: string",
        "created_at: string",
        "updated_at: string",
    ),
    "PaginatedSessionList": page("SessionListItem"),
    "CreateSessionRequest": with_limits(
        obj("content: string", "model?: string", "system?: string"),
        examples=[{"content": "How do I add a stage?", "model": "sonnet"}],
    ),
    "CreateSessionResponse": obj(
        "id: string", "title: string", "model: ModelRef", "created_at: string", "updated_at: string"
    ),
    "SessionTurn": obj(
        "kind: 'user'|'assistant'|'tool'",
        "content?: string",
        "tools?: [object]",
        "created_at: string",
    ),
    "SessionDetail": obj(
        "id: string",
        "title: string",
        "model: ModelRef",
        "created_at: string",
        "updated_at: string",
        "turns: [SessionTurn]",
    ),
    "SendMessageRequest": with_limits(
        obj("content: string"), examples=[{"content": "And a human gate?"}]
    ),
    "SendMessageResponse": obj("accepted: boolean"),
    "SavedQuery": obj(
        "id: string", "name: string", "sql: string", "created_at: string", "updated_at: string"
    ),
    "PaginatedSavedQueryList": page("SavedQuery"),
    "SaveQueryRequest": obj("name: string", "sql: string"),
    "ExecuteQueryRequest": obj("sql: string"),
    "ExecuteQueryResponse": obj(
        "columns: [string]", "rows: [[any]]", "elapsed: number", "row_count: integer"
    ),
    "HistoryEntry": obj(
        "id: string", "sql: string", "timestamp: string", "elapsed: number", "row_count: integer"
    ),
    "PaginatedHistoryEntryList": page("HistoryEntry"),
    "AggregateUsage": obj("totals: object", "by_model: [UsageByModel]"),
    "Model": obj(
        "id: string",
        "provider: string",
        "family: string",
        "display_name: string",
        "limits: object",
        "training: string | null",
        "features: object",
        "costs: object",
        "estimated_output_tps: number | null",
        "aliases: [string]",
        "default: boolean",
    ),
    "PaginatedModelList": page("Model"),
    "ModelTestResult": obj("model_id: string", "status: 'ok'|'error'", "error_message?: string"),
    "CompletionMessage": obj(
        "role: 'system'|'user'|'assistant'|'tool'|'developer'",
        "content: [object]",
        "name?: string",
        "tool_call_id?: string",
    ),
    "CreateCompletionRequest": with_limits(
        obj(
            "messages: [CompletionMessage]",
            "model?: string",
            "provider?: string",
            "system?: string",
            "stream?: boolean",
            "tools?: [object]",
            "tool_choice?: object",
            "schema?: object",
            "temperature?: number",
            "top_p?: number",
            "max_tokens?: integer",
            "stop_sequences?: [string]",
            "reasoning_effort?: string",
            "provider_options?: object",
        ),
        messages={"minItems": 1},
        examples=[
            {
                "model": "haiku",
                "stream": False,
                "max_tokens": 200,
                "system": "Answer briefly.",
                "messages": [{"role": "user", "content": [{"kind": "text", "data": "Say hello"}]}],
            }
        ],
    ),
    "CompletionResponse": obj(
        "id: string",
        "model: string",
        "message: CompletionMessage",
        "stop_reason: string",
        "usage: object",
        "output?: any",
    ),
    "RunEvent": {
        "type": "object",
        "description": 'An externally tagged run event, e.g. {"StageStarted": {...}}.',
        "minProperties": 1,
        "maxProperties": 1,
        "propertyNames": {"enum": sorted(RUN_EVENT_TYPES)},
        "additionalProperties": {"type": "object"},
    },
    # No event: lines (api.md §6.8): every frame has the default type.
    "RunEventFrame": sse_frame(
        {"$ref": "#/components/schemas/RunEvent"}, event=["message"], id_=True
    ),
    "SessionEventFrame": sse_frame(
        _JSON_OBJECT,
        event=["content_delta", "assistant_turn", "tool_turn", "done", "error"],
        id_=True,
    ),
    "CompletionStreamFrame": sse_frame(
        obj("type: string"), event=["stream_event", "ping"], id_=False
    ),
    "ServerConfiguration": obj(
        "data_dir: string",
        "max_concurrent_runs: integer",
        "workflows_dir?: string",
        "web: object",
        "api: object",
        "log: object",
        "llm?: LlmConfig",
    ),
}
