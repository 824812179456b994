"""Both providers against a local server speaking their real wire protocols."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from fabro.llm.http import HttpRetryPolicy, retry_after_s
from fabro.llm.provider import (
    LlmError,
    LlmRequest,
    Message,
    RetryNotice,
    StreamEnd,
    StreamOpened,
    TextDelta,
    ToolCall,
    ToolSpec,
)
from fabro.llm.router import Router, choose_backend
from fabro.llm.simulated import SimulatedBackend
from fabro.llm.usage import Usage
from tests.llm import fake_providers as fp
from tests.llm.fake_providers import ANTHROPIC_PATH, OPENAI_PATH, FakeProviders

ANTHROPIC_KEY = "sk-ant-test-0123456789abcdefghij"
OPENAI_KEY = "sk-test-0123456789abcdefghijklmn"
TOOL = ToolSpec("read_file", "Read a file.", {"type": "object", "properties": {}})


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def router(fake: FakeProviders, sleeps: Sleeps) -> AsyncIterator[Router]:
    env = {
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "ANTHROPIC_BASE_URL": fake.url,
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_BASE_URL": fake.url + "/v1",
    }
    backend = Router(env, policy=HttpRetryPolicy(sleep=sleeps, rng=random.Random(1)))
    yield backend
    await backend.aclose()


def request(provider: str, model: str, **extra: object) -> LlmRequest:
    return LlmRequest(
        provider=provider,
        model=model,
        messages=[Message("user", "Hello")],
        system="Be brief.",
        **extra,  # type: ignore[arg-type]
    )


class Notices:
    def __init__(self) -> None:
        self.seen: list[RetryNotice] = []

    async def __call__(self, notice: RetryNotice) -> None:
        self.seen.append(notice)


# ---- happy paths ----


async def test_anthropic_text_and_tool_calls(fake: FakeProviders, router: Router) -> None:
    fake.anthropic(
        fp.anthropic(
            "Let me look.",
            [("toolu_1", "read_file", {"path": "a.txt"}), ("toolu_2", "list_files", {})],
            input_tokens=120,
            output_tokens=30,
            cache_read=7,
        )
    )
    response = await router.complete(request("anthropic", "claude-opus-4-6", tools=[TOOL]))
    assert response.text == "Let me look."
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [
        ("toolu_1", "read_file", {"path": "a.txt"}),
        ("toolu_2", "list_files", {}),
    ]
    assert response.usage == Usage(input_tokens=120, output_tokens=30, cache_read_tokens=7)
    assert response.stop_reason == "tool_calls"
    assert response.model == "claude-opus-4-6"
    (sent,) = fake.requests
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.body["stream"] is True
    assert sent.body["max_tokens"] == 16_384  # min(catalog max_output 128000, 16384)
    assert sent.body["system"] == "Be brief."
    assert sent.body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Hello"}]}
    ]
    assert sent.body["tools"] == [
        {"name": "read_file", "description": "Read a file.", "input_schema": TOOL.parameters}
    ]
    assert "reasoning_effort" not in sent.body


async def test_anthropic_tool_results_go_back_in_one_user_turn(
    fake: FakeProviders, router: Router
) -> None:
    fake.anthropic(fp.anthropic("Done."))
    call = ToolCall("toolu_1", "read_file", {"path": "a"})
    messages = [
        Message("user", "Go"),
        Message("assistant", "Reading.", tool_calls=(call,)),
        Message("tool", "contents", tool_call_id="toolu_1"),
        Message("tool", "boom", tool_call_id="toolu_2", is_error=True),
        Message("user", "Steer: hurry"),
    ]
    req = LlmRequest("anthropic", "claude-haiku-4-5", messages, max_tokens=50)
    assert (await router.complete(req)).text == "Done."
    body = fake.requests[0].body
    assert body["max_tokens"] == 50
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Reading."},
            {"type": "tool_use", "id": "toolu_1", "name": "read_file", "input": {"path": "a"}},
        ],
    }
    assert body["messages"][2]["role"] == "user"
    assert [block["type"] for block in body["messages"][2]["content"]] == [
        "tool_result",
        "tool_result",
        "text",
    ]
    assert body["messages"][2]["content"][1]["is_error"] is True


async def test_openai_text_and_tool_calls(fake: FakeProviders, router: Router) -> None:
    fake.openai(
        fp.openai(
            "Checking.",
            [("call_1", "read_file", {"path": "a.txt"})],
            prompt_tokens=90,
            completion_tokens=12,
            cached_tokens=40,
            reasoning_tokens=5,
        )
    )
    req = request("openai", "gpt-5.4", tools=[TOOL], max_tokens=64, reasoning_effort="high")
    response = await router.complete(req)
    assert response.text == "Checking."
    assert response.tool_calls == (
        ToolCall("call_1", "read_file", {"path": "a.txt"}, '{"path": "a.txt"}'),
    )
    assert response.usage == Usage(
        input_tokens=90, output_tokens=12, cache_read_tokens=40, reasoning_tokens=5
    )
    assert response.stop_reason == "tool_calls"
    (sent,) = fake.requests
    assert sent.path == OPENAI_PATH
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert sent.body["stream_options"] == {"include_usage": True}
    # A custom base URL is a local server: classic max_tokens, no reasoning_effort.
    assert sent.body["max_tokens"] == 64
    assert "max_completion_tokens" not in sent.body and "reasoning_effort" not in sent.body
    assert sent.body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent.body["tools"][0]["type"] == "function"
    assert sent.body["tools"][0]["function"]["name"] == "read_file"


async def test_openai_without_key_sends_no_authorization(fake: FakeProviders) -> None:
    backend = Router({"OPENAI_BASE_URL": fake.url + "/v1"})
    try:
        fake.openai(fp.openai("hi"))
        response = await backend.complete(request("openai", "llama3.1"))
    finally:
        await backend.aclose()
    assert response.text == "hi"
    assert "authorization" not in fake.requests[0].headers


async def test_non_streamed_json_answer_is_accepted(fake: FakeProviders, router: Router) -> None:
    completion = (
        b'{"id": "c1", "model": "llama3.1", "choices": [{"index": 0, "finish_reason": "stop",'
        b' "message": {"role": "assistant", "content": "plain"}}],'
        b' "usage": {"prompt_tokens": 3, "completion_tokens": 1}}'
    )
    fake.openai(fp.raw(completion))
    response = await router.complete(request("openai", "llama3.1"))
    assert (response.text, response.usage.input_tokens) == ("plain", 3)


async def test_stream_yields_deltas_and_ends(fake: FakeProviders, router: Router) -> None:
    fake.anthropic(fp.anthropic("Hello there"))
    events = [event async for event in router.stream(request("anthropic", "claude-haiku-4-5"))]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hello", " there"]
    assert isinstance(events[-1], StreamEnd) and events[-1].finish_reason == "stop"


# ---- retries and failures ----


async def test_429_with_retry_after_is_retried(
    fake: FakeProviders, router: Router, sleeps: Sleeps
) -> None:
    fake.anthropic(fp.error(429, "slow down", retry_after="3"), fp.anthropic("ok"))
    notices = Notices()
    response = await router.complete(request("anthropic", "claude-haiku-4-5"), notices)
    assert response.text == "ok"
    assert sleeps.delays == [3.0]
    (notice,) = notices.seen
    assert (notice.provider, notice.model, notice.attempt, notice.delay_secs) == (
        "anthropic",
        "claude-haiku-4-5",
        1,
        3.0,
    )
    assert notice.error == "LLM error: anthropic returned HTTP 429: slow down"


async def test_500_is_retried_twice_then_fails_retryable(
    fake: FakeProviders, router: Router, sleeps: Sleeps
) -> None:
    fake.openai(*[fp.error(500, "internal")] * 3)
    notices = Notices()
    with pytest.raises(LlmError) as caught:
        await router.complete(request("openai", "gpt-5.4"), notices)
    error = caught.value
    assert error.message == "LLM error: openai returned HTTP 500: internal"
    assert (error.retryable, error.failure_class) == (True, "transient_infra")
    assert len(fake.requests) == 3
    # 1 s × 2^(n−1) × a factor in [0.5, 1.5)
    assert 0.5 <= sleeps.delays[0] < 1.5 and 1.0 <= sleeps.delays[1] < 3.0
    assert [n.attempt for n in notices.seen] == [1, 2]


async def test_long_retry_after_means_no_retry(fake: FakeProviders, router: Router) -> None:
    fake.anthropic(fp.error(529, "invalid", retry_after="120"))
    with pytest.raises(LlmError) as caught:
        await router.complete(request("anthropic", "claude-haiku-4-5"))
    assert caught.value.retryable and len(fake.requests) == 1


@pytest.mark.parametrize(
    ("status", "message", "failure_class"),
    [
        (401, "invalid x-api-key", "deterministic"),
        (403, "forbidden", "deterministic"),
        (400, "prompt is too long: 250000 tokens > 200000 maximum", "budget_exhausted"),
        (404, "model not found", "deterministic"),
    ],
)
async def test_client_errors_fail_without_retry(
    fake: FakeProviders, router: Router, status: int, message: str, failure_class: str
) -> None:
    fake.anthropic(fp.error(status, message))
    with pytest.raises(LlmError) as caught:
        await router.complete(request("anthropic", "claude-haiku-4-5"))
    assert caught.value.message == f"LLM error: anthropic returned HTTP {status}: {message}"
    assert (caught.value.failure_class, caught.value.retryable) == (failure_class, False)
    assert len(fake.requests) == 1
    assert ANTHROPIC_KEY not in caught.value.message


@pytest.mark.parametrize(
    "reply",
    [
        fp.raw(b"<html>not json</html>"),
        fp.raw(b"data: {not json\n\n", content_type="text/event-stream"),
    ],
    ids=["json-body", "sse-data"],
)
async def test_malformed_body_is_a_clear_failure(
    fake: FakeProviders, router: Router, reply: fp.Reply
) -> None:
    fake.openai(reply)
    with pytest.raises(LlmError) as caught:
        await router.complete(request("openai", "gpt-5.4"))
    assert caught.value.message.startswith("LLM error: openai sent a malformed response: ")
    assert (caught.value.failure_class, caught.value.retryable) == ("deterministic", False)


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_dropped_stream_is_retried_then_fails(
    fake: FakeProviders, router: Router, sleeps: Sleeps, provider: str
) -> None:
    if provider == "anthropic":
        fake.anthropic(fp.dropped(fp.anthropic("partial text"), 3), fp.anthropic("whole"))
        fake.anthropic(*[fp.dropped(fp.anthropic("x"), 2)] * 3)
    else:
        fake.openai(fp.dropped(fp.openai("partial text"), 2), fp.openai("whole"))
        fake.openai(*[fp.dropped(fp.openai("x"), 1)] * 3)
    model = "claude-haiku-4-5" if provider == "anthropic" else "gpt-5.4"
    assert (await router.complete(request(provider, model))).text == "whole"
    with pytest.raises(LlmError) as caught:
        await router.complete(request(provider, model))
    assert caught.value.message.startswith(f"LLM error: {provider} connection failed: ")
    assert caught.value.retryable
    assert len(fake.requests) == 5 and len(sleeps.delays) == 3


async def test_stream_ending_without_message_stop_is_incomplete(
    fake: FakeProviders, router: Router
) -> None:
    fake.anthropic(*[fp.anthropic("cut", complete=False)] * 3)
    with pytest.raises(LlmError) as caught:
        await router.complete(request("anthropic", "claude-haiku-4-5"))
    assert caught.value.message == (
        "LLM error: anthropic stream ended before the response was complete"
    )
    assert caught.value.retryable and len(fake.requests) == 3


async def test_mid_stream_error_event(fake: FakeProviders, router: Router) -> None:
    invalid = {"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}
    stream = {"content-type": "text/event-stream"}
    fake.anthropic(fp.Reply(headers=stream, events=lambda body: [fp.sse("error", invalid)]))
    with pytest.raises(LlmError) as caught:
        await router.complete(request("anthropic", "claude-haiku-4-5"))
    assert caught.value.message == "LLM error: anthropic invalid_request_error: bad"
    assert not caught.value.retryable


async def test_stream_is_not_retried_after_events_were_passed_on(
    fake: FakeProviders, router: Router
) -> None:
    fake.anthropic(fp.dropped(fp.anthropic("Hello there"), 4), fp.anthropic("again"))
    seen = []
    with pytest.raises(LlmError):
        async for event in router.stream(request("anthropic", "claude-haiku-4-5")):
            seen.append(event)
    assert seen == [StreamOpened(), TextDelta("Hello")]
    assert len(fake.requests) == 1


async def test_stream_is_retried_while_no_content_was_passed_on(
    fake: FakeProviders, router: Router
) -> None:
    fake.anthropic(fp.dropped(fp.anthropic("Hello there"), 1), fp.anthropic("again"))
    seen = [event async for event in router.stream(request("anthropic", "claude-haiku-4-5"))]
    assert seen[:3] == [StreamOpened(), StreamOpened(), TextDelta("ag")]
    assert len(fake.requests) == 2


async def test_connection_refused_is_retried_then_fails(sleeps: Sleeps) -> None:
    server = FakeProviders()
    await server.start()
    url = server.url
    await server.close()  # nothing listens there any more
    backend = Router(
        {"ANTHROPIC_API_KEY": ANTHROPIC_KEY, "ANTHROPIC_BASE_URL": url},
        policy=HttpRetryPolicy(sleep=sleeps),
    )
    try:
        with pytest.raises(LlmError) as caught:
            await backend.complete(request("anthropic", "claude-haiku-4-5"))
    finally:
        await backend.aclose()
    assert caught.value.message.startswith("LLM error: anthropic connection failed: ")
    assert len(sleeps.delays) == 2


async def test_error_texts_quoting_a_key_are_redacted(fake: FakeProviders, router: Router) -> None:
    fake.openai(fp.error(401, f"Incorrect API key provided: {OPENAI_KEY}"))
    with pytest.raises(LlmError) as caught:
        await router.complete(request("openai", "gpt-5.4"))
    assert OPENAI_KEY not in caught.value.message
    assert caught.value.message.startswith("LLM error: openai returned HTTP 401: Incorrect API key")


# ---- routing and choice ----


async def test_unsupported_and_unconfigured_providers() -> None:
    backend = Router({"ANTHROPIC_API_KEY": ANTHROPIC_KEY})
    try:
        with pytest.raises(LlmError) as unsupported:
            await backend.complete(request("gemini", "gemini-3.1-pro-preview"))
        with pytest.raises(LlmError) as unconfigured:
            await backend.complete(request("openai", "gpt-5.4"))
    finally:
        await backend.aclose()
    assert unsupported.value.message == "Provider 'gemini' is not supported by this fabro version"
    assert unconfigured.value.message == (
        "Provider 'openai' is not configured (set OPENAI_API_KEY or OPENAI_BASE_URL)"
    )
    assert not unsupported.value.retryable and unconfigured.value.failure_class == "deterministic"


async def test_choose_backend() -> None:
    assert isinstance(choose_backend({}), SimulatedBackend)
    assert isinstance(choose_backend({"ANTHROPIC_API_KEY": "k"}, dry_run=True), SimulatedBackend)
    for env in ({"ANTHROPIC_API_KEY": "k"}, {"OPENAI_BASE_URL": "http://127.0.0.1:1/v1"}):
        backend = choose_backend(env)
        assert isinstance(backend, Router) and not backend.simulated
        await backend.aclose()


def test_retry_after_parsing() -> None:
    now = datetime(2026, 3, 12, 10, 0, 0, tzinfo=UTC)
    assert retry_after_s("7", now) == 7.0
    assert retry_after_s("Thu, 12 Mar 2026 10:00:30 GMT", now) == 30.0
    assert retry_after_s("soon", now) is None
    assert retry_after_s(None, now) is None


def test_backoff_is_capped_and_jittered() -> None:
    from fabro.llm.http import CallFailed

    policy = HttpRetryPolicy(rng=random.Random(3), max_retries=10)
    failure = CallFailed("x", retry=True, failure_class="transient_infra")
    for done in range(10):
        delay = policy.delay(failure, done)
        assert delay is not None
        base = min(2.0**done, 60.0)
        assert 0.5 * base <= delay < 1.5 * base
    assert HttpRetryPolicy().delay(failure, 2) is None  # at most 2 retries


async def test_openai_default_base_url_uses_max_completion_tokens() -> None:
    from fabro.llm.openai import request_body

    body = request_body(
        request("openai", "gpt-5.4", max_tokens=10, reasoning_effort="low"), custom=False
    )
    assert body["max_completion_tokens"] == 10 and body["reasoning_effort"] == "low"
    body = request_body(request("openai", "llama3", reasoning_effort="low"), custom=False)
    assert "reasoning_effort" not in body  # not a catalog model with the reasoning feature


def test_paths_are_the_real_ones() -> None:
    assert ANTHROPIC_PATH == "/v1/messages" and OPENAI_PATH == "/v1/chat/completions"
