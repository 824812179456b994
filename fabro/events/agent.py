"""AgentEvent: what an LLM stage's agent session reports, carried by the ``Agent`` run event.

Externally tagged like run events, except that variants without fields are plain strings
(``"SessionStarted"``), as in api.md §6.8.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, cast

from fabro.events.tagged import (
    Json,
    JsonObject,
    Tagged,
    decode_fields,
    decode_tagged,
    encode_fields,
)


class AgentEvent(Tagged):
    """Base of the AgentEvent variants."""

    def to_json(self) -> str | JsonObject:
        """The tagged JSON form; a variant without fields is its bare name."""
        fields = encode_fields(self)
        if not fields and not dataclasses.fields(cast(Any, self)):
            return self.variant
        return {self.variant: fields}

    @classmethod
    def from_json(cls, data: Json) -> AgentEvent:
        """Rebuild any AgentEvent variant from its tagged JSON."""
        return agent_event_from_json(data)


@dataclass(frozen=True, kw_only=True)
class TokenUsage:
    """Token counts of one model response as reported in ``AssistantMessage``."""

    input_tokens: int
    output_tokens: int
    total_tokens: int
    reasoning_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None

    def to_json(self) -> JsonObject:
        return encode_fields(self)

    @classmethod
    def from_json(cls, data: Json) -> TokenUsage:
        return decode_fields(cls, data)


@dataclass(frozen=True)
class SessionStarted(AgentEvent):
    pass


@dataclass(frozen=True)
class SessionEnded(AgentEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class AssistantMessage(AgentEvent):
    text: str
    model: str
    usage: TokenUsage
    tool_call_count: int


@dataclass(frozen=True, kw_only=True)
class ToolCallStarted(AgentEvent):
    tool_name: str
    tool_call_id: str
    # A dict cannot be hashed; leaving it out of the hash keeps the event hashable.
    arguments: dict[str, Any] = field(hash=False)


@dataclass(frozen=True, kw_only=True)
class ToolCallCompleted(AgentEvent):
    tool_name: str
    tool_call_id: str
    output: str
    is_error: bool


@dataclass(frozen=True, kw_only=True)
class TurnLimitReached(AgentEvent):
    max_turns: int


@dataclass(frozen=True, kw_only=True)
class SteeringInjected(AgentEvent):
    text: str


@dataclass(frozen=True, kw_only=True)
class LlmRetry(AgentEvent):
    provider: str
    model: str
    attempt: int
    delay_secs: float
    error: str


@dataclass(frozen=True, kw_only=True)
class AgentError(AgentEvent, variant="Error"):
    """The ``Error`` variant (renamed here so it does not read like an exception class)."""

    error: str


AGENT_EVENT_TYPES: dict[str, type[AgentEvent]] = {
    cls.variant: cls
    for cls in (
        SessionStarted,
        SessionEnded,
        AssistantMessage,
        ToolCallStarted,
        ToolCallCompleted,
        TurnLimitReached,
        SteeringInjected,
        LlmRetry,
        AgentError,
    )
}


def agent_event_from_json(data: Json) -> AgentEvent:
    """Rebuild an AgentEvent from its tagged JSON (a bare string for variants without fields)."""
    return decode_tagged(data, AGENT_EVENT_TYPES, "AgentEvent")
