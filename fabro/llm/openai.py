"""OpenAI Chat Completions, streamed over httpx; any compatible server via its base URL."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import httpx

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

NAME = "openai"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
_RETRYABLE_ERRORS = ("rate_limit", "server_error", "overloaded", "timeout")


class OpenAiProvider(RetryingProvider):
    """Calls `POST {base}/chat/completions` with `stream: true`."""

    name = NAME

    def __init__(
        self,
        client: httpx.AsyncClient,
        api_key: str | None,
        base_url: str | None = None,
        policy: HttpRetryPolicy | None = None,
    ) -> None:
        self.client = client
        base = (base_url or DEFAULT_BASE_URL).rstrip("/")
        # Local servers get the classic `max_tokens` and no `reasoning_effort` (engine.md §10.2).
        self.custom = base != DEFAULT_BASE_URL
        self.url = base + "/chat/completions"
        self._headers = {"accept": "text/event-stream"}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        self.policy = policy or HttpRetryPolicy()

    async def _attempt(self, request: LlmRequest) -> AsyncGenerator[StreamEvent, None]:
        body = request_body(request, custom=self.custom)
        async with post_stream(self.client, NAME, self.url, self._headers, body) as response:
            yield StreamOpened()
            if not is_event_stream(response):
                # Some compatible servers ignore `stream: true` and send the whole completion.
                for event in completion_events(await read_json(NAME, response), request.model):
                    yield event
                return
            parser = StreamParser(request.model)
            async for frame in sse_frames(response):
                for event in parser.feed(frame.data):
                    yield event
                if parser.done:
                    return
            # Some servers close without `[DONE]`: a finished choice still counts as complete.
            if parser.finish is None:
                raise dropped(NAME)
            yield parser.end()


# ---- request -------------------------------------------------------------------------------


def request_body(request: LlmRequest, *, custom: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model,
        "messages": convert_messages(request.system, request.messages),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                },
            }
            for tool in request.tools
        ]
        choice = request.tool_choice
        if choice is not None:
            body["tool_choice"] = (
                {"type": "function", "function": {"name": choice.tool_name}}
                if choice.mode == "named"
                else choice.mode
            )
    if request.max_tokens:
        body["max_tokens" if custom else "max_completion_tokens"] = request.max_tokens
    model = lookup(request.model)
    if request.reasoning_effort and not custom and model is not None and model.features.reasoning:
        body["reasoning_effort"] = request.reasoning_effort
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop_sequences:
        body["stop"] = list(request.stop_sequences)
    if request.response_schema is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": request.response_schema},
        }
    return body


def convert_messages(system: str, messages: Sequence[Message]) -> list[dict[str, Any]]:
    converted: list[dict[str, Any]] = []
    if system:
        converted.append({"role": "system", "content": system})
    for message in messages:
        if message.role == "tool":
            converted.append(
                {
                    "role": "tool",
                    "tool_call_id": message.tool_call_id or "",
                    "content": message.text,
                }
            )
        elif message.role == "assistant":
            turn: dict[str, Any] = {"role": "assistant", "content": message.text or None}
            if message.tool_calls:
                turn["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {
                            "name": call.name,
                            "arguments": json.dumps(call.arguments, ensure_ascii=False),
                        },
                    }
                    for call in message.tool_calls
                ]
            converted.append(turn)
        else:
            converted.append({"role": message.role, "content": message.text})
    return converted


# ---- response ------------------------------------------------------------------------------


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    prompt_details = raw.get("prompt_tokens_details") or {}
    completion_details = raw.get("completion_tokens_details") or {}
    return Usage(
        input_tokens=as_int(raw.get("prompt_tokens")),
        output_tokens=as_int(raw.get("completion_tokens")),
        cache_read_tokens=as_int(prompt_details.get("cached_tokens")),
        reasoning_tokens=as_int(completion_details.get("reasoning_tokens")),
    )


def _error(error: Any) -> CallFailed:
    if isinstance(error, dict):
        detail = str(error.get("message") or error.get("type") or "error")
        kind = f"{error.get('type') or ''} {error.get('code') or ''}"
    else:
        detail = kind = str(error)
    retry = any(marker in kind for marker in _RETRYABLE_ERRORS)
    return CallFailed(
        f"LLM error: {NAME} error: {detail}",
        retry=retry,
        failure_class="transient_infra" if retry else "deterministic",
    )


class StreamParser:
    """Turns chat.completion.chunk objects into neutral StreamEvents."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.id: str | None = None
        self.usage = Usage()
        self.tools: dict[int, int] = {}  # the chunk's tool call index -> our index
        self.finish: str | None = None
        self.done = False

    def end(self) -> StreamEnd:
        return StreamEnd(self.finish or "stop", self.usage, self.model, self.id)

    def feed(self, data: str) -> list[StreamEvent]:
        if data.strip() == "[DONE]":
            self.done = True
            return [self.end()]
        chunk = load_json(NAME, data)
        if "error" in chunk:
            raise _error(chunk["error"])
        try:
            return self._chunk(chunk)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise malformed(NAME, f"unexpected chunk ({type(exc).__name__})") from None

    def _chunk(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        self.id = chunk.get("id") or self.id
        self.model = chunk.get("model") or self.model
        if chunk.get("usage"):
            self.usage = _usage(chunk["usage"])
        events: list[StreamEvent] = []
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                events.append(ReasoningDelta(reasoning))
            if delta.get("content"):
                events.append(TextDelta(str(delta["content"])))
            for call in delta.get("tool_calls") or []:
                events.extend(self._tool_call(call))
            if choice.get("finish_reason"):
                self.finish = str(choice["finish_reason"])
        return events

    def _tool_call(self, call: dict[str, Any]) -> list[StreamEvent]:
        key = int(call.get("index", 0))
        function = call.get("function") or {}
        events: list[StreamEvent] = []
        if key not in self.tools:
            self.tools[key] = len(self.tools)
            call_id = str(call.get("id") or f"call_{key}")
            events.append(ToolCallStart(self.tools[key], call_id, str(function.get("name") or "")))
        if function.get("arguments"):
            events.append(ToolArgsDelta(self.tools[key], str(function["arguments"])))
        return events


def completion_events(data: dict[str, Any], model: str) -> list[StreamEvent]:
    """The events of a whole (non-streamed) chat completion."""
    if "error" in data:
        raise _error(data["error"])
    try:
        choice = data["choices"][0]
        message = choice.get("message") or {}
        events: list[StreamEvent] = []
        if message.get("content"):
            events.append(TextDelta(str(message["content"])))
        for number, call in enumerate(message.get("tool_calls") or []):
            function = call.get("function") or {}
            events.append(ToolCallStart(number, str(call.get("id") or ""), str(function["name"])))
            events.append(ToolArgsDelta(number, str(function.get("arguments") or "")))
        finish = str(choice.get("finish_reason") or "stop")
        usage = _usage(data.get("usage"))
        events.append(StreamEnd(finish, usage, data.get("model") or model, data.get("id")))
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise malformed(NAME, f"unexpected completion ({type(exc).__name__})") from None
    return events
