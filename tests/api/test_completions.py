"""POST /completions (api.md §10): JSON and SSE, against both providers' wire protocols."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from fabro.config import Settings
from fabro.events.sse import parse_stream, split_lines
from tests.llm import fake_providers as fp
from tests.llm.fake_providers import (
    ANTHROPIC_PATH,
    OPENAI_PATH,
    FakeProviders,
    live_app,
    provider_env,
    running,
)

HELLO = [{"role": "user", "content": [{"kind": "text", "data": "Say hello"}]}]


@pytest.fixture
async def fake() -> AsyncIterator[FakeProviders]:
    async with running() as server:
        yield server


@pytest.fixture
async def live(settings: Settings, fake: FakeProviders) -> AsyncIterator[Quart]:
    async with live_app(settings, provider_env(fake)) as app:
        yield app


async def post(client: Client, headers: dict[str, str], body: dict[str, Any]) -> Any:
    return await client.post("/completions", json=body, headers=headers)


async def stream_events(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, await response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "text/event-stream"
    frames = list(parse_stream(split_lines(await response.get_data())))
    assert {f.event for f in frames} == {"stream_event"}
    return [json.loads(f.data) for f in frames]


async def test_streaming_text_and_a_tool_call_from_anthropic(
    live: Quart, fake: FakeProviders, auth_headers: dict[str, str]
) -> None:
    fake.anthropic(
        fp.anthropic(
            "Let me check.",
            [("toolu_1", "lookup", {"q": "weather"})],
            input_tokens=11,
            output_tokens=7,
        )
    )
    body = {
        "model": "haiku",
        "messages": HELLO,
        "system": "Answer briefly.",
        "tools": [{"name": "lookup", "description": "Look up", "parameters": {"type": "object"}}],
        "tool_choice": {"mode": "named", "tool_name": "lookup"},
    }
    events = await stream_events(await post(live.test_client(), auth_headers, body))
    assert [e["type"] for e in events] == [
        "stream_start",
        "text_start",
        "text_delta",
        "text_delta",
        "text_end",
        "tool_call_start",
        "tool_call_delta",
        "tool_call_delta",
        "tool_call_end",
        "finish",
    ]
    assert "".join(e["delta"] for e in events if e["type"] == "text_delta") == "Let me check."
    assert {e["text_id"] for e in events if "text_id" in e} == {"t0"}
    assert events[5]["tool_call"] == {
        "id": "toolu_1",
        "name": "lookup",
        "arguments": {},
        "raw_arguments": "",
    }
    assert events[8]["tool_call"]["arguments"] == {"q": "weather"}
    finish = events[-1]
    assert finish["finish_reason"] == "tool_calls"
    assert finish["usage"] == {"input_tokens": 11, "output_tokens": 7, "total_tokens": 18}
    response = finish["response"]
    assert (response["model"], response["provider"], response["raw"]) == (
        "claude-haiku-4-5",
        "anthropic",
        None,
    )
    assert response["message"]["content"] == [
        {"kind": "text", "data": "Let me check."},
        {
            "kind": "tool_call",
            "data": {"id": "toolu_1", "name": "lookup", "arguments": {"q": "weather"}},
        },
    ]
    (sent,) = fake.bodies(ANTHROPIC_PATH)
    assert sent["system"] == "Answer briefly."
    assert sent["tool_choice"] == {"type": "tool", "name": "lookup"}


async def test_streaming_is_the_default_with_openai(
    live: Quart, fake: FakeProviders, auth_headers: dict[str, str]
) -> None:
    fake.openai(fp.openai("Hi there", prompt_tokens=4, completion_tokens=2, reasoning_tokens=1))
    body = {"model": "gpt-5.4", "messages": HELLO, "max_tokens": 20, "stop_sequences": ["END"]}
    events = await stream_events(await post(live.test_client(), auth_headers, body))
    assert [e["type"] for e in events][:2] == ["stream_start", "text_start"]
    assert events[-1]["finish_reason"] == "stop"
    assert events[-1]["usage"] == {
        "input_tokens": 4,
        "output_tokens": 2,
        "total_tokens": 6,
        "reasoning_tokens": 1,
    }
    (sent,) = fake.bodies(OPENAI_PATH)
    assert (sent["max_tokens"], sent["stop"]) == (20, ["END"])


async def test_json_completion(
    live: Quart, fake: FakeProviders, auth_headers: dict[str, str]
) -> None:
    fake.anthropic(fp.anthropic("Hello!", input_tokens=9, output_tokens=3))
    body = {"model": "haiku", "stream": False, "max_tokens": 200, "messages": HELLO}
    response = await post(live.test_client(), auth_headers, body)
    assert response.status_code == 200
    answer = await response.get_json()
    assert len(answer.pop("id")) == 26
    assert answer == {
        "model": "claude-haiku-4-5",
        "message": {"role": "assistant", "content": [{"kind": "text", "data": "Hello!"}]},
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 9, "output_tokens": 3},
    }


async def test_history_with_tool_calls_and_results_is_sent_on(
    live: Quart, fake: FakeProviders, auth_headers: dict[str, str]
) -> None:
    fake.openai(fp.openai("Sunny."))
    messages = [
        {"role": "developer", "content": [{"kind": "text", "data": "Be nice."}]},
        *HELLO,
        {
            "role": "assistant",
            "content": [
                {
                    "kind": "tool_call",
                    "data": {"id": "c1", "name": "lookup", "arguments": '{"q": 1}'},
                }
            ],
        },
        {
            "role": "tool",
            "content": [{"kind": "tool_result", "data": {"tool_call_id": "c1", "content": "ok"}}],
        },
    ]
    body = {"model": "gpt-5.4", "stream": False, "messages": messages}
    response = await post(live.test_client(), auth_headers, body)
    assert response.status_code == 200
    (sent,) = fake.bodies(OPENAI_PATH)
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "tool"]
    assert sent["messages"][2]["tool_calls"][0]["function"] == {
        "name": "lookup",
        "arguments": '{"q": 1}',
    }
    assert sent["messages"][3] == {"role": "tool", "tool_call_id": "c1", "content": "ok"}


async def test_structured_output(
    live: Quart, fake: FakeProviders, auth_headers: dict[str, str]
) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}}
    fake.anthropic(fp.anthropic("", [("toolu_9", "output", {"answer": 42})]))
    fake.openai(fp.openai('{"answer": 7}'), fp.openai("not json"))
    client = live.test_client()
    anthropic = await post(
        client, auth_headers, {"model": "haiku", "messages": HELLO, "schema": schema}
    )
    assert (await anthropic.get_json())["output"] == {"answer": 42}
    sent = fake.bodies(ANTHROPIC_PATH)[0]
    assert sent["tool_choice"] == {"type": "tool", "name": "output"}
    assert sent["tools"][-1]["input_schema"] == schema
    openai = await post(
        client, auth_headers, {"model": "gpt-5.4", "messages": HELLO, "schema": schema}
    )
    assert (await openai.get_json())["output"] == {"answer": 7}
    assert fake.bodies(OPENAI_PATH)[0]["response_format"]["json_schema"]["schema"] == schema
    bad = await post(
        client, auth_headers, {"model": "gpt-5.4", "messages": HELLO, "schema": schema}
    )
    assert bad.status_code == 502
    assert (await bad.get_json())["errors"][0][
        "detail"
    ] == "LLM error: model did not return valid JSON."


@pytest.mark.parametrize("stream", [True, False])
async def test_failures_before_streaming_are_502(
    live: Quart, fake: FakeProviders, auth_headers: dict[str, str], stream: bool
) -> None:
    fake.anthropic(fp.error(401, "invalid x-api-key"))
    client = live.test_client()
    response = await post(
        client, auth_headers, {"model": "haiku", "messages": HELLO, "stream": stream}
    )
    assert response.status_code == 502
    assert await response.get_json() == {
        "errors": [
            {
                "status": "502",
                "title": "Bad Gateway",
                "detail": "LLM error: anthropic returned HTTP 401: invalid x-api-key",
            }
        ]
    }
    unsupported = await post(
        client, auth_headers, {"model": "gemini-pro", "messages": HELLO, "stream": stream}
    )
    assert unsupported.status_code == 502
    assert (await unsupported.get_json())["errors"][0]["detail"] == (
        "LLM error: Provider 'gemini' is not supported by this fabro version"
    )


async def test_failure_after_the_stream_started_is_an_error_event(
    live: Quart, fake: FakeProviders, auth_headers: dict[str, str]
) -> None:
    fake.anthropic(fp.dropped(fp.anthropic("Hello there friend"), 5))
    events = await stream_events(
        await post(live.test_client(), auth_headers, {"model": "haiku", "messages": HELLO})
    )
    assert [e["type"] for e in events][:3] == ["stream_start", "text_start", "text_delta"]
    error = events[-1]
    assert error["type"] == "error" and error["raw"] is None
    assert error["error"]["Stream"]["message"].startswith(
        "LLM error: anthropic connection failed: "
    )
    assert len(fake.requests) == 1  # events were sent: no retry


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "Missing required field 'messages'."),
        ({"messages": []}, "Field 'messages' must not be empty."),
        (
            {"messages": [{"role": "user", "content": [{"kind": "image", "data": "x"}]}]},
            "Field 'messages[0].content[0].kind' has unknown value 'image'.",
        ),
        (
            {"messages": [{"role": "robot", "content": []}]},
            "Field 'messages[0].role' has unknown value 'robot'.",
        ),
        (
            {"messages": HELLO, "tool_choice": {"mode": "named"}},
            "Missing required field 'tool_choice.tool_name'.",
        ),
        ({"messages": HELLO, "stream": "yes"}, "Field 'stream' must be a boolean."),
        # Every field of a CompletionMessage is type-checked, and the error names its path.
        ({"messages": [{"content": []}]}, "Missing required field 'messages[0].role'."),
        ({"messages": [{"role": 1, "content": []}]}, "Field 'messages[0].role' must be a string."),
        ({"messages": [{"role": "user"}]}, "Missing required field 'messages[0].content'."),
        (
            {"messages": [{"role": "user", "content": "hi"}]},
            "Field 'messages[0].content' must be an array.",
        ),
        (
            {"messages": [*HELLO, {"role": "user", "content": [], "name": 7}]},
            "Field 'messages[1].name' must be a string.",
        ),
        (
            {"messages": [{"role": "user", "content": [], "tool_call_id": ["x"]}]},
            "Field 'messages[0].tool_call_id' must be a string.",
        ),
        (
            {"messages": [{"role": "user", "content": [{"data": "x"}]}]},
            "Missing required field 'messages[0].content[0].kind'.",
        ),
        (
            {"messages": [{"role": "user", "content": [{"kind": 3, "data": "x"}]}]},
            "Field 'messages[0].content[0].kind' must be a string.",
        ),
        (
            {"messages": [{"role": "user", "content": [{"kind": "text", "data": 3}]}]},
            "Field 'messages[0].content[0].data' must be a string.",
        ),
        (
            {"messages": [{"role": "assistant", "content": [{"kind": "tool_call", "data": {}}]}]},
            "Missing required field 'messages[0].content[0].data.id'.",
        ),
        (
            {
                "messages": [
                    {
                        "role": "tool",
                        "content": [
                            {
                                "kind": "tool_result",
                                "data": {"tool_call_id": "t1", "is_error": "no"},
                            }
                        ],
                    }
                ]
            },
            "Field 'messages[0].content[0].data.is_error' must be a boolean.",
        ),
        (
            {"messages": HELLO, "tools": [{"description": "x"}]},
            "Missing required field 'tools[0].name'.",
        ),
        ({"messages": HELLO, "tool_choice": {}}, "Missing required field 'tool_choice.mode'."),
    ],
)
async def test_bad_bodies_are_400(
    client: Client, auth_headers: dict[str, str], body: dict[str, Any], detail: str
) -> None:
    response = await post(client, auth_headers, body)
    assert response.status_code == 400
    assert (await response.get_json())["errors"][0]["detail"] == detail


async def test_simulated_backend(client: Client, auth_headers: dict[str, str]) -> None:
    answer = await (
        await post(client, auth_headers, {"model": "haiku", "stream": False, "messages": HELLO})
    ).get_json()
    assert answer["message"] == {"role": "assistant", "content": []}
    assert (answer["stop_reason"], answer["usage"]) == (
        "end_turn",
        {"input_tokens": 0, "output_tokens": 0},
    )
    events = await stream_events(await post(client, auth_headers, {"messages": HELLO}))
    assert [e["type"] for e in events] == ["finish"]
    assert events[0]["response"]["model"] == "claude-opus-4-6"  # the server default
