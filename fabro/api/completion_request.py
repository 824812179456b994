"""Reading a CreateCompletionRequest (api.md §10) into a provider-neutral LlmRequest."""

from __future__ import annotations

import json
from typing import Any

from fabro.api.request import field, parse_json, string_list
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

ROLES = ("system", "user", "assistant", "tool", "developer")
TOOL_CHOICES = ("auto", "none", "required", "named")
_EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


def parse_completion(body: dict[str, Any], server: LevelChoice) -> LlmRequest:
    """The request's call; 400 for any problem with the body."""
    raw_messages = field(body, "messages", list, required=True)
    if not raw_messages:
        raise BadRequest("Field 'messages' must not be empty.")
    messages: list[Message] = []
    for index, raw in enumerate(raw_messages):
        messages.extend(_message(raw, f"messages[{index}]"))
    provider, model = resolve(field(body, "model", str), field(body, "provider", str), server)
    stops = string_list(body, "stop_sequences") or []
    return LlmRequest(
        provider=provider,
        model=model,
        messages=messages,
        system=field(body, "system", str) or "",
        tools=_tools(body),
        tool_choice=_tool_choice(body),
        max_tokens=field(body, "max_tokens", int),
        reasoning_effort=field(body, "reasoning_effort", str),
        temperature=field(body, "temperature", float),
        top_p=field(body, "top_p", float),
        stop_sequences=stops,
        response_schema=field(body, "schema", dict),
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


def _message(raw: Any, where: str) -> list[Message]:
    """One CompletionMessage: every field type-checked as the original's document says."""
    if not isinstance(raw, dict):
        raise BadRequest(f"Field '{where}' must be an object.")
    role = field(raw, "role", str, required=True, within=where)
    if role not in ROLES:
        raise BadRequest(f"Field '{where}.role' has unknown value '{role}'.")
    parts = field(raw, "content", list, required=True, within=where)
    field(raw, "name", str, within=where)  # accepted and not sent on: providers differ
    call_id = field(raw, "tool_call_id", str, within=where)
    texts: list[str] = []
    calls: list[ToolCall] = []
    results: list[Message] = []
    for number, part in enumerate(parts):
        place = f"{where}.content[{number}]"
        if not isinstance(part, dict):
            raise BadRequest(f"Field '{place}' must be an object.")
        kind = field(part, "kind", str, required=True, within=place)
        data = part.get("data")
        if kind == "text":
            if not isinstance(data, str):
                raise BadRequest(f"Field '{place}.data' must be a string.")
            texts.append(data)
        elif kind == "tool_call":
            calls.append(_tool_call(data, f"{place}.data"))
        elif kind == "tool_result":
            results.append(_tool_result(data, f"{place}.data"))
        else:
            raise BadRequest(f"Content kind '{kind}' is not supported.")
    text = "\n".join(texts)
    if role in ("system", "developer"):
        return [Message("system", text)]
    if role == "assistant":
        return [Message("assistant", text, tool_calls=tuple(calls))]
    if role == "tool" and not results:
        return [Message("tool", text, tool_call_id=call_id)]
    # Tool results may come in a `tool` message or, Anthropic style, in a user message.
    return results + ([Message("user", text)] if text or not results else [])


def _tool_call(data: Any, where: str) -> ToolCall:
    if not isinstance(data, dict):
        raise BadRequest(f"Field '{where}' must be an object.")
    call_id = field(data, "id", str, required=True, within=where)
    name = field(data, "name", str, required=True, within=where)
    arguments = data.get("arguments") or {}
    if isinstance(arguments, str):
        arguments = parse_json(arguments, name=f"{where}.arguments") if arguments.strip() else {}
    if not isinstance(arguments, dict):
        raise BadRequest(f"Field '{where}.arguments' must be an object.")
    return ToolCall(call_id, name, arguments)


def _tool_result(data: Any, where: str) -> Message:
    if not isinstance(data, dict):
        raise BadRequest(f"Field '{where}' must be an object.")
    call_id = field(data, "tool_call_id", str, required=True, within=where)
    content = data.get("content", "")
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    is_error = field(data, "is_error", bool, within=where) or False
    return Message("tool", text, tool_call_id=call_id, is_error=is_error)


def _tools(body: dict[str, Any]) -> list[ToolSpec]:
    raw = field(body, "tools", list) or []
    tools = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise BadRequest(f"Field 'tools[{index}]' must be an object.")
        where = f"tools[{index}]"
        name = field(item, "name", str, required=True, within=where)
        description = field(item, "description", str, within=where) or ""
        parameters = field(item, "parameters", dict, within=where) or _EMPTY_SCHEMA
        tools.append(ToolSpec(name, description, parameters))
    return tools


def _tool_choice(body: dict[str, Any]) -> ToolChoice | None:
    raw = field(body, "tool_choice", dict)
    if raw is None:
        return None
    mode = field(raw, "mode", str, required=True, within="tool_choice")
    if mode not in TOOL_CHOICES:
        raise BadRequest(f"Field 'tool_choice.mode' has unknown value '{mode}'.")
    name = field(raw, "tool_name", str, within="tool_choice")
    if mode == "named" and not name:
        raise BadRequest("Missing required field 'tool_choice.tool_name'.")
    return ToolChoice(mode, name)
