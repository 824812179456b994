"""Reading a CreateCompletionRequest (api.md §10) into a provider-neutral LlmRequest."""

from __future__ import annotations

import json
from typing import Any

from fabro.api.bodies.completions import (
    CompletionMessage,
    CompletionTool,
    CompletionToolChoice,
    CreateCompletionRequest,
    TextPart,
    ToolCallData,
    ToolCallPart,
    ToolResultData,
)
from fabro.api.request import parse_json
from fabro.errors import BadRequest
from fabro.llm.catalog import (
    DEFAULT_MODEL,
    DEFAULT_PROVIDER,
    canonical_id,
    canonical_provider,
    lookup,
)
from fabro.llm.provider import LlmRequest, Message, ToolCall, ToolChoice, ToolSpec
from fabro.llm.resolve import LevelChoice, resolve_model

_EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


def parse_completion(body: CreateCompletionRequest, server: LevelChoice) -> LlmRequest:
    """The request's call; 400 for a tool call's arguments that are not a JSON object."""
    messages: list[Message] = []
    for index, raw in enumerate(body.messages):
        messages.extend(_message(raw, f"messages[{index}]"))
    provider, model = resolve(body.model, body.provider, server)
    return LlmRequest(
        provider=provider,
        model=model,
        messages=messages,
        system=body.system or "",
        tools=[_tool(tool) for tool in body.tools or ()],
        tool_choice=_tool_choice(body.tool_choice),
        max_tokens=body.max_tokens,
        reasoning_effort=body.reasoning_effort,
        temperature=body.temperature,
        top_p=body.top_p,
        stop_sequences=list(body.stop_sequences or ()),
        response_schema=body.schema,
    )


def resolve(model: str | None, provider: str | None, server: LevelChoice) -> tuple[str, str]:
    """(provider, model): the model as asked (canonical id), its catalog provider by default."""
    if model:
        model_id = canonical_id(model)
        if provider:
            return canonical_provider(provider), model_id
        known = lookup(model_id)
        if known is not None:
            return known.provider, model_id
        return canonical_provider(server.provider or DEFAULT_PROVIDER), model_id
    resolved = resolve_model(run_override=LevelChoice(None, provider), server_default=server)
    return resolved.provider, resolved.model or DEFAULT_MODEL.id


def _message(raw: CompletionMessage, where: str) -> list[Message]:
    texts: list[str] = []
    calls: list[ToolCall] = []
    results: list[Message] = []
    for number, part in enumerate(raw.content):
        if isinstance(part, TextPart):
            texts.append(part.data)
        elif isinstance(part, ToolCallPart):
            calls.append(_tool_call(part.data, f"{where}.content[{number}].data"))
        else:
            results.append(_tool_result(part.data))
    text = "\n".join(texts)
    role = raw.role
    if role in ("system", "developer"):
        return [Message("system", text)]
    if role == "assistant":
        return [Message("assistant", text, tool_calls=tuple(calls))]
    if role == "tool" and not results:
        return [Message("tool", text, tool_call_id=raw.tool_call_id)]
    # Tool results may come in a `tool` message or, Anthropic style, in a user message.
    return results + ([Message("user", text)] if text or not results else [])


def _tool_call(data: ToolCallData, where: str) -> ToolCall:
    arguments = data.arguments or {}
    if isinstance(arguments, str):
        arguments = parse_json(arguments, name=f"{where}.arguments") if arguments.strip() else {}
    if not isinstance(arguments, dict):
        raise BadRequest(f"Field '{where}.arguments' must be an object.")
    return ToolCall(data.id, data.name, arguments)


def _tool_result(data: ToolResultData) -> Message:
    content = data.content
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    return Message("tool", text, tool_call_id=data.tool_call_id, is_error=bool(data.is_error))


def _tool(tool: CompletionTool) -> ToolSpec:
    return ToolSpec(tool.name, tool.description or "", tool.parameters or _EMPTY_SCHEMA)


def _tool_choice(choice: CompletionToolChoice | None) -> ToolChoice | None:
    return None if choice is None else ToolChoice(choice.mode, choice.tool_name)
