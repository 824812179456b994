"""The provider protocol every LLM backend implements, with provider-neutral messages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

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


@dataclass(frozen=True)
class Message:
    role: Role
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None  # for role "tool": the call this result answers
    is_error: bool = False


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


@dataclass(frozen=True)
class LlmResponse:
    text: str
    model: str
    usage: Usage = field(default_factory=Usage)
    tool_calls: tuple[ToolCall, ...] = ()
    stop_reason: str = "end_turn"


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
    """A provider call that failed after its retries; messages start with `LLM error: `."""

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
