"""Bodies of completions and the model catalog (api.md §10, §12)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import msgspec
from msgspec import UNSET, Meta

from fabro.api.bodies.common import Body, JsonObject, Opt, Page
from fabro.llm.catalog import Model as CatalogModel

Role = Literal["system", "user", "assistant", "tool", "developer"]


class TextPart(Body, tag_field="kind", tag="text"):
    data: str


class ToolCallData(Body):
    id: str
    name: str
    # An object, or its JSON text (as some providers send it); absent or null for none.
    arguments: JsonObject | str | None = None


class ToolCallPart(Body, tag_field="kind", tag="tool_call"):
    data: ToolCallData


class ToolResultData(Body):
    tool_call_id: str
    content: Any = ""  # text, or any JSON value (sent on as its JSON text)
    is_error: bool | None = None


class ToolResultPart(Body, tag_field="kind", tag="tool_result"):
    data: ToolResultData


ContentPart = TextPart | ToolCallPart | ToolResultPart


class CompletionMessage(Body):
    role: Role
    content: list[ContentPart]
    name: str | None = None  # accepted and not sent on: providers differ
    tool_call_id: str | None = None


class CompletionTool(Body):
    name: str
    description: str | None = None
    parameters: JsonObject | None = None


class CompletionToolChoice(Body):
    mode: Literal["auto", "none", "required", "named"]
    tool_name: str | None = None

    def __post_init__(self) -> None:
        if self.mode == "named" and not self.tool_name:
            # Worded as msgspec words it, so the error names the field's path like the others.
            raise ValueError("Object missing required field `tool_name`")


class CreateCompletionRequest(Body):
    messages: Annotated[list[CompletionMessage], Meta(min_length=1)]
    model: str | None = None
    provider: str | None = None
    system: str | None = None
    stream: bool | None = None
    tools: list[CompletionTool] | None = None
    tool_choice: CompletionToolChoice | None = None
    schema: JsonObject | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop_sequences: list[str] | None = None
    reasoning_effort: str | None = None
    provider_options: JsonObject | None = None

    SCHEMA_EXTRA: ClassVar[dict[str, Any]] = {
        "examples": [
            {
                "model": "haiku",
                "stream": False,
                "max_tokens": 200,
                "system": "Answer briefly.",
                "messages": [{"role": "user", "content": [{"kind": "text", "data": "Say hello"}]}],
            }
        ]
    }


class CompletionResponse(Body):
    id: str
    model: str
    message: CompletionMessage
    stop_reason: str
    usage: JsonObject
    output: Opt[Any] = UNSET


class StreamEventType(Body):
    type: str


class Model(Body):
    id: str
    provider: str
    family: str
    display_name: str
    limits: JsonObject
    training: str | None
    features: JsonObject
    costs: JsonObject
    estimated_output_tps: float | None
    aliases: list[str]
    default: bool

    @classmethod
    def from_record(cls, model: CatalogModel) -> Model:
        """A catalog entry as this body (its ``to_json``)."""
        return msgspec.convert(model.to_json(), cls)


class PaginatedModelList(Page[Model]):
    pass


class ModelTestResult(Body):
    model_id: str
    status: Literal["ok", "error"]
    error_message: Opt[str] = UNSET
