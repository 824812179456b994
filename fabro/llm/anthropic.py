"""The Anthropic Messages API, streamed over httpx (engine.md §10.2)."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import httpx

from fabro.events.sse import Frame
from fabro.llm.catalog import lookup
from fabro.llm.http import (
    CallFailed,
    HttpRetryPolicy,
    RetryingProvider,
    as_int,
    dropped,
    is_event_stream,
    load_json,
    malformed,
    post_stream,
    read_json,
    sse_frames,
)
from fabro.llm.provider import (
    LlmRequest,
    Message,
    ReasoningDelta,
    StreamEnd,
    StreamEvent,
    StreamOpened,
    TextDelta,
    ToolArgsDelta,
    ToolCallStart,
)
from fabro.llm.usage import Usage

NAME = "anthropic"
DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 8192
MAX_TOKENS_CAP = 16_384
OUTPUT_TOOL = "output"  # the forced tool that carries structured output

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# Error types of a mid-stream `error` event that the equivalent HTTP status would retry.
_RETRYABLE_ERRORS = frozenset(
    {"overloaded_error", "api_error", "rate_limit_error", "timeout_error"}
)


class AnthropicProvider(RetryingProvider):
    """Calls `POST {base}/v1/messages` with `stream: true`."""

    name = NAME

    def __init__(
        self,
        client: httpx.AsyncClient,
        api_key: str,
        base_url: str | None = None,
        policy: HttpRetryPolicy | None = None,
    ) -> None:
        self.client = client
        self.url = (base_url or DEFAULT_BASE_URL).rstrip("/") + "/v1/messages"
        self._headers = {
            "x-api-key": api_key,
            "anthropic-version": API_VERSION,
            "accept": "text/event-stream",
        }
        self.policy = policy or HttpRetryPolicy()

    async def _attempt(self, request: LlmRequest) -> AsyncGenerator[StreamEvent, None]:
        async with post_stream(
            self.client, NAME, self.url, self._headers, request_body(request)
        ) as response:
            yield StreamOpened()
            if not is_event_stream(response):
                # A server that ignores `stream: true` answers with the whole message.
                for event in message_events(await read_json(NAME, response), request.model):
                    yield event
                return
            parser = StreamParser(request.model)
            async for frame in sse_frames(response):
                for event in parser.feed(frame):
                    yield event
                if parser.done:
                    return
            raise dropped(NAME)


# ---- request -------------------------------------------------------------------------------


def max_tokens(request: LlmRequest) -> int:
    """The node's `max_tokens`, else min(catalog max_output, 16384), else 8192."""
    if request.max_tokens:
        return request.max_tokens
    model = lookup(request.model)
    if model is not None and model.limits.max_output:
        return min(model.limits.max_output, MAX_TOKENS_CAP)
    return DEFAULT_MAX_TOKENS


def request_body(request: LlmRequest) -> dict[str, Any]:
    system, messages = convert_messages(request.system, request.messages)
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": max_tokens(request),
        "messages": messages,
        "stream": True,
    }
    if system:
        body["system"] = system
    tools = [
        {"name": tool.name, "description": tool.description, "input_schema": tool.parameters}
        for tool in request.tools
    ]
    choice = request.tool_choice
    if request.response_schema is not None:
        tools.append(
            {
                "name": OUTPUT_TOOL,
                "description": "Return the answer as structured output.",
                "input_schema": request.response_schema,
            }
        )
        body["tool_choice"] = {"type": "tool", "name": OUTPUT_TOOL}
    elif choice is not None and tools:
        body["tool_choice"] = {
            "auto": {"type": "auto"},
            "none": {"type": "none"},
            "required": {"type": "any"},
            "named": {"type": "tool", "name": choice.tool_name},
        }[choice.mode]
    if tools:
        body["tools"] = tools
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop_sequences:
        body["stop_sequences"] = list(request.stop_sequences)
    return body


def convert_messages(system: str, messages: Sequence[Message]) -> tuple[str, list[dict[str, Any]]]:
    """System text and Messages API turns; tool results travel in user turns.

    Consecutive turns of one role are merged, since the API expects user and assistant to
    alternate (several tool results, then steering text, form one user turn).
    """
    system_parts = [system] if system else []
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            system_parts.append(message.text)
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks: list[dict[str, Any]] = []
        if message.role == "tool":
            blocks.append(
                {
                    "type": "tool_result",
                    "tool_use_id": message.tool_call_id or "",
                    "content": message.text,
                    "is_error": message.is_error,
                }
            )
        elif message.text:
            blocks.append({"type": "text", "text": message.text})
        blocks.extend(
            {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
            for call in message.tool_calls
        )
        if not blocks:
            continue  # the API rejects empty turns
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return "\n\n".join(part for part in system_parts if part), turns


# ---- response ------------------------------------------------------------------------------


def _usage(raw: dict[str, Any]) -> Usage:
    return Usage(
        input_tokens=as_int(raw.get("input_tokens")),
        output_tokens=as_int(raw.get("output_tokens")),
        cache_read_tokens=as_int(raw.get("cache_read_input_tokens")),
        cache_write_tokens=as_int(raw.get("cache_creation_input_tokens")),
    )


def _error(error: Any) -> CallFailed:
    kind = str(error.get("type", "error")) if isinstance(error, dict) else "error"
    detail = str(error.get("message", kind)) if isinstance(error, dict) else str(error)
    retry = kind in _RETRYABLE_ERRORS
    return CallFailed(
        f"LLM error: {NAME} {kind}: {detail}",
        retry=retry,
        failure_class="transient_infra" if retry else "deterministic",
    )


class StreamParser:
    """Turns Messages API stream events into neutral StreamEvents."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.id: str | None = None
        self.usage: dict[str, Any] = {}
        self.tools: dict[int, int] = {}  # content block index -> tool call index
        self.finish: str | None = None
        self.done = False

    def feed(self, frame: Frame) -> list[StreamEvent]:
        data = load_json(NAME, frame.data)
        try:
            return self._event(str(data.get("type") or frame.event), data)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise malformed(NAME, f"unexpected stream event ({type(exc).__name__})") from None

    def _event(self, kind: str, data: dict[str, Any]) -> list[StreamEvent]:
        if kind == "message_start":
            message = data["message"]
            self.id = message.get("id")
            self.model = message.get("model") or self.model
            self._add_usage(message.get("usage") or {})
        elif kind == "content_block_start":
            return self._block_start(int(data["index"]), data["content_block"])
        elif kind == "content_block_delta":
            return self._delta(int(data["index"]), data["delta"])
        elif kind == "message_delta":
            self.finish = data.get("delta", {}).get("stop_reason") or self.finish
            self._add_usage(data.get("usage") or {})
        elif kind == "message_stop":
            self.done = True
            finish = _FINISH.get(self.finish or "end_turn", self.finish or "stop")
            return [StreamEnd(finish, _usage(self.usage), self.model, self.id)]
        elif kind == "error":
            raise _error(data.get("error"))
        return []  # ping, content_block_stop and future event types

    def _add_usage(self, usage: dict[str, Any]) -> None:
        self.usage.update({key: value for key, value in usage.items() if value is not None})

    def _block_start(self, index: int, block: dict[str, Any]) -> list[StreamEvent]:
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            return [TextDelta(str(block["text"]))]
        if kind == "thinking" and block.get("thinking"):
            return [ReasoningDelta(str(block["thinking"]))]
        if kind == "tool_use":
            number = len(self.tools)
            self.tools[index] = number
            events: list[StreamEvent] = [
                ToolCallStart(number, str(block["id"]), str(block["name"]))
            ]
            if block.get("input"):  # normally {} with the JSON in deltas
                events.append(ToolArgsDelta(number, json.dumps(block["input"])))
            return events
        return []

    def _delta(self, index: int, delta: dict[str, Any]) -> list[StreamEvent]:
        kind = delta.get("type")
        if kind == "text_delta":
            return [TextDelta(str(delta["text"]))]
        if kind == "thinking_delta":
            return [ReasoningDelta(str(delta["thinking"]))]
        if kind == "input_json_delta":
            return [ToolArgsDelta(self.tools[index], str(delta["partial_json"]))]
        return []  # signature_delta and future delta types


def message_events(data: dict[str, Any], model: str) -> list[StreamEvent]:
    """The events of a whole (non-streamed) Messages API response."""
    if data.get("type") == "error":
        raise _error(data.get("error"))
    try:
        events: list[StreamEvent] = []
        for block in data["content"]:
            if block.get("type") == "text":
                events.append(TextDelta(str(block.get("text", ""))))
            elif block.get("type") == "tool_use":
                number = sum(isinstance(event, ToolCallStart) for event in events)
                events.append(ToolCallStart(number, str(block["id"]), str(block["name"])))
                events.append(ToolArgsDelta(number, json.dumps(block.get("input") or {})))
        finish = str(data.get("stop_reason") or "end_turn")
        usage = _usage(data.get("usage") or {})
        events.append(StreamEnd(_FINISH.get(finish, finish), usage, data.get("model") or model))
    except (KeyError, TypeError, AttributeError) as exc:
        raise malformed(NAME, f"unexpected message ({type(exc).__name__})") from None
    return events
