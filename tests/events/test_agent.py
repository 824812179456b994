from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any

import pytest

from fabro.events import agent as a
from fabro.events.types import Agent, event_from_json
from tests.events.samples import AGENT_SAMPLES
from tests.events.spec_tables import agent_event_table
from tests.shared_dir import needs_shared


@pytest.mark.parametrize("event", AGENT_SAMPLES, ids=lambda e: type(e).__name__)
def test_round_trip(event: a.AgentEvent) -> None:
    data = json.loads(json.dumps(event.to_json()))
    assert a.agent_event_from_json(data) == event
    assert a.AgentEvent.from_json(data) == event


@pytest.mark.parametrize("event", [a.SessionStarted(), a.SessionEnded()])
def test_variants_without_fields_are_plain_strings(event: a.AgentEvent) -> None:
    assert event.to_json() == event.variant
    wrapped = Agent(stage="plan", event=event).to_json()
    assert wrapped == {"Agent": {"stage": "plan", "event": event.variant}}
    assert event_from_json(wrapped) == Agent(stage="plan", event=event)


def test_a_variant_without_fields_is_also_read_from_an_empty_object() -> None:
    assert a.agent_event_from_json({"SessionEnded": {}}) == a.SessionEnded()


def test_error_variant_keeps_the_spec_name() -> None:
    assert a.AgentError.variant == "Error"
    assert a.AgentError(error="x").to_json() == {"Error": {"error": "x"}}


@needs_shared
def test_every_spec_variant_is_implemented_and_nothing_else() -> None:
    assert list(a.AGENT_EVENT_TYPES) == list(agent_event_table())


@needs_shared
@pytest.mark.parametrize("variant", list(agent_event_table()))
def test_fields_match_the_spec_table(variant: str) -> None:
    cls = a.AGENT_EVENT_TYPES[variant]
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    assert [f.name for f in fields] == [f.name for f in agent_event_table()[variant]]
    assert all(f.default is dataclasses.MISSING for f in fields)


def test_token_usage_shape() -> None:
    hints = typing.get_type_hints(a.TokenUsage)
    names = [f.name for f in dataclasses.fields(a.TokenUsage)]
    assert names == [
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "reasoning_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
    ]
    assert hints["input_tokens"] is int
    usage = a.TokenUsage(input_tokens=1, output_tokens=2, total_tokens=3)
    assert usage.to_json() == {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}
    assert a.TokenUsage.from_json({**usage.to_json(), "cache_read_tokens": 0}) == (
        a.TokenUsage(input_tokens=1, output_tokens=2, total_tokens=3, cache_read_tokens=0)
    )


def test_tool_arguments_stay_a_json_object_and_do_not_break_hashing() -> None:
    event = a.ToolCallStarted(tool_name="t", tool_call_id="1", arguments={"a": [1, {"b": None}]})
    assert event.to_json() == {
        "ToolCallStarted": {
            "tool_name": "t",
            "tool_call_id": "1",
            "arguments": {"a": [1, {"b": None}]},
        }
    }
    assert hash(event) == hash(a.ToolCallStarted(tool_name="t", tool_call_id="1", arguments={}))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("Nope", "Unknown AgentEvent variant"),
        ({"AssistantMessage": {"text": "x"}}, "missing field 'model'"),
        ({"TurnLimitReached": 5}, "expected an object"),
        (3, "exactly one key"),
    ],
)
def test_invalid_agent_events_are_rejected(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        a.agent_event_from_json(data)
