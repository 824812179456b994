"""The provider protocol every LLM backend implements, with provider-neutral messages.

A real provider streams a call as a few neutral events (``StreamEvent``); ``collect`` folds
them into one ``LlmResponse``. Stages use ``complete``; ``/completions`` streaming and chat
sessions use ``stream``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from fabro.events.storable import storable_value
from fabro.llm.usage import Usage

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]
    raw_arguments: str | None = None  # the JSON text as the model sent it


@dataclass(frozen=True)
class Message:
    role: Role
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None  # for role "tool": the call this result answers
    is_error: bool = False


@dataclass(frozen=True)
class ToolChoice:
    """``auto``, ``none``, ``required`` (some tool) or ``named`` (``tool_name``)."""

    mode: Literal["auto", "none", "required", "named"] = "auto"
    tool_name: str | None = None


@dataclass(frozen=True)
class LlmRequest:
    provider: str
    model: str
    messages: Sequence[Message]
    system: str = ""
    tools: Sequence[ToolSpec] = ()
    max_tokens: int | None = None
    reasoning_effort: str | None = None
    stage: str | None = None  # the node id, for the simulated backend and logs
    tool_choice: ToolChoice | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop_sequences: Sequence[str] = ()
    response_schema: dict[str, Any] | None = None  # structured output (api.md §10 `schema`)


@dataclass(frozen=True)
class LlmResponse:
    text: str
    model: str
    usage: Usage = field(default_factory=Usage)
    tool_calls: tuple[ToolCall, ...] = ()
    stop_reason: str = "end_turn"  # end_turn, max_tokens, tool_calls, content_filter, or raw
    id: str | None = None


# ---- streaming ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamOpened:
    """The provider accepted the call (HTTP 200); content follows."""


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True)
class ToolCallStart:
    index: int  # position among this response's tool calls
    id: str
    name: str


@dataclass(frozen=True)
class ToolArgsDelta:
    index: int
    text: str  # a piece of the arguments' JSON text


@dataclass(frozen=True)
class StreamEnd:
    """The last event of every complete stream."""

    finish_reason: str  # stop, length, tool_calls, content_filter, or the provider's value
    usage: Usage
    model: str
    id: str | None = None


StreamEvent = StreamOpened | TextDelta | ReasoningDelta | ToolCallStart | ToolArgsDelta | StreamEnd

# finish_reason (stream vocabulary) -> stop_reason (CompletionResponse vocabulary).
_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "error": "error",
}


def stop_reason(finish_reason: str) -> str:
    return _STOP_REASONS.get(finish_reason, finish_reason)


def parse_arguments(raw: str) -> dict[str, Any]:
    """Tool-call arguments from their JSON text (made storable, as in http.load_json);
    anything but an object gives ``{}``."""
    try:
        value = storable_value(json.loads(raw)) if raw.strip() else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


class ResponseBuilder:
    """Folds stream events into an ``LlmResponse``."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: dict[int, tuple[str, str]] = {}
        self.arguments: dict[int, list[str]] = {}
        self.end: StreamEnd | None = None

    def add(self, event: StreamEvent) -> None:
        if isinstance(event, TextDelta):
            self.text.append(event.text)
        elif isinstance(event, ToolCallStart):
            self.calls[event.index] = (event.id, event.name)
            self.arguments.setdefault(event.index, [])
        elif isinstance(event, ToolArgsDelta):
            self.arguments.setdefault(event.index, []).append(event.text)
        elif isinstance(event, StreamEnd):
            self.end = event

    def tool_call(self, index: int) -> ToolCall:
        id, name = self.calls.get(index, ("", ""))
        raw = "".join(self.arguments.get(index, []))
        return ToolCall(id, name, parse_arguments(raw), raw)

    def response(self, model: str) -> LlmResponse:
        end = self.end or StreamEnd("stop", Usage(), model)
        return LlmResponse(
            text="".join(self.text),
            model=end.model or model,
            usage=end.usage,
            tool_calls=tuple(self.tool_call(index) for index in sorted(self.calls)),
            stop_reason=stop_reason(end.finish_reason),
            id=end.id,
        )


async def collect(events: AsyncGenerator[StreamEvent, None], model: str) -> LlmResponse:
    """The whole response of a stream (closed even when the caller is cancelled)."""
    builder = ResponseBuilder()
    async with aclosing(events):
        async for event in events:
            builder.add(event)
    return builder.response(model)


# ---- errors and retries ---------------------------------------------------------------------


@dataclass(frozen=True)
class RetryNotice:
    """One retry of a call, reported as `LlmRetry` (engine.md §10.2)."""

    provider: str
    model: str
    attempt: int
    delay_secs: float
    error: str


OnRetry = Callable[[RetryNotice], Awaitable[None]]


class LlmError(Exception):
    """A provider call that failed after its retries; messages start with `LLM error: `.

    Routing failures (a provider that is not supported or not configured) carry the stage
    message of engine.md §10.2 without the prefix.
    """

    def __init__(self, message: str, *, failure_class: str, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.failure_class = failure_class
        self.retryable = retryable


class LlmBackend(Protocol):
    @property
    def simulated(self) -> bool:
        """True for the simulated backend (no real model is called)."""
        ...

    async def complete(self, request: LlmRequest, on_retry: OnRetry | None = None) -> LlmResponse:
        """One model call; raises LlmError."""
        ...


class StreamingBackend(LlmBackend, Protocol):
    """A backend that can also stream a call (the real providers)."""

    def stream(
        self, request: LlmRequest, on_retry: OnRetry | None = None
    ) -> AsyncGenerator[StreamEvent, None]:
        """The call's events, ending with ``StreamEnd``; raises LlmError."""
        ...
