"""POST /completions (api.md §10): one model call, answered as JSON or streamed over SSE."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

import msgspec
from msgspec import UNSET
from quart import Response
from ulid import ULID

from fabro import jsontext
from fabro.api.bodies.completions import (
    CompletionMessage,
    CompletionResponse,
    CreateCompletionRequest,
)
from fabro.api.completion_request import parse_completion
from fabro.api.context import Handler, services
from fabro.api.request import read_body
from fabro.api.streams import SSE_HEADERS
from fabro.errors import BadGateway
from fabro.events.sse import KEEP_ALIVE_S, frame
from fabro.llm.provider import (
    LlmBackend,
    LlmError,
    LlmRequest,
    LlmResponse,
    ReasoningDelta,
    ResponseBuilder,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolArgsDelta,
    ToolCallStart,
)
from fabro.llm.router import streaming
from fabro.llm.usage import Usage

log = logging.getLogger(__name__)

PING = b'event: ping\ndata: {"type":"ping"}\n\n'
FINISH_REASONS = ("stop", "length", "tool_calls", "content_filter", "error")
INVALID_JSON = "LLM error: model did not return valid JSON."


async def create_completion() -> Response | CompletionResponse:
    body = await read_body(CreateCompletionRequest)
    request = parse_completion(body, services().server_llm_default())
    stream = body.stream
    # A schema forces non-streaming structured output.
    if request.response_schema is not None:
        stream = False
    backend = services().llm
    if stream is False:
        return await _complete(backend, request)
    return await _stream(backend, request)


def _llm_error(error: LlmError) -> BadGateway:
    message = error.message
    return BadGateway(message if message.startswith("LLM error: ") else f"LLM error: {message}")


# ---- JSON ------------------------------------------------------------------------------------


def usage_json(usage: Usage) -> dict[str, int]:
    """The streaming usage object; optional counts only when non-zero."""
    out = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }
    for name, value in (
        ("reasoning_tokens", usage.reasoning_tokens),
        ("cache_read_tokens", usage.cache_read_tokens),
        ("cache_write_tokens", usage.cache_write_tokens),
    ):
        if value:
            out[name] = value
    return out


def message_json(response: LlmResponse | None) -> dict[str, Any]:
    """The assistant's CompletionMessage."""
    content: list[dict[str, Any]] = []
    if response is not None:
        if response.text:
            content.append({"kind": "text", "data": response.text})
        content.extend(
            {
                "kind": "tool_call",
                "data": {"id": call.id, "name": call.name, "arguments": call.arguments},
            }
            for call in response.tool_calls
        )
    return {"role": "assistant", "content": content}


def structured_output(response: LlmResponse) -> Any:
    """The parsed object of a `schema` call: the forced `output` tool's input, else the text."""
    raw = next((c.raw_arguments for c in response.tool_calls if c.name == "output"), None)
    try:
        return json.loads(raw if raw is not None else response.text)
    except json.JSONDecodeError:
        raise BadGateway(INVALID_JSON) from None


def _message(response: LlmResponse | None) -> CompletionMessage:
    return msgspec.convert(message_json(response), CompletionMessage)


async def _complete(backend: LlmBackend, request: LlmRequest) -> CompletionResponse:
    if backend.simulated:
        return CompletionResponse(
            id=str(ULID()),
            model=request.model,
            message=_message(None),
            stop_reason="end_turn",
            usage={"input_tokens": 0, "output_tokens": 0},
        )
    try:
        response = await backend.complete(request)
    except LlmError as error:
        raise _llm_error(error) from None
    return CompletionResponse(
        id=str(ULID()),
        model=request.model,
        message=_message(response),
        stop_reason=response.stop_reason,
        usage={
            "input_tokens": response.usage.input_tokens,
            "output_tokens": response.usage.output_tokens,
        },
        output=UNSET if request.response_schema is None else structured_output(response),
    )


# ---- SSE -------------------------------------------------------------------------------------


def _frame(data: dict[str, Any]) -> bytes:
    return frame(jsontext.dumps(data), event="stream_event")


class _Done:
    """The pump's end-of-stream marker."""


class _Pump:
    """Runs a provider stream in a task of its own and queues its events.

    The response body is produced by whatever task Quart uses to send it; keeping every read of
    the provider's connection in one task keeps httpx's connection handling in one place, and
    lets the body wait for events with a keep-alive timeout without cancelling a read.
    """

    def __init__(self, events: AsyncGenerator[StreamEvent, None]) -> None:
        self.queue: asyncio.Queue[StreamEvent | LlmError | _Done] = asyncio.Queue()
        self.task = asyncio.create_task(self._run(events), name="completion-stream")

    async def _run(self, events: AsyncGenerator[StreamEvent, None]) -> None:
        try:
            async with aclosing(events):
                async for event in events:
                    self.queue.put_nowait(event)
        except LlmError as error:
            self.queue.put_nowait(error)
        except Exception:  # the client gets an error event, the operator the trace
            log.exception("completion stream failed")
            failure = LlmError("LLM error: internal error", failure_class="", retryable=False)
            self.queue.put_nowait(failure)
        self.queue.put_nowait(_Done())

    async def next(self, timeout_s: float | None = None) -> StreamEvent | LlmError | _Done | None:
        """The next item; None when ``timeout_s`` passes first."""
        try:
            async with asyncio.timeout(timeout_s):
                return await self.queue.get()
        except TimeoutError:
            return None

    async def close(self) -> None:
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass


class Translator:
    """Neutral stream events -> the StreamEvent objects of api.md §10."""

    def __init__(self, request: LlmRequest) -> None:
        self.request = request
        self.builder = ResponseBuilder()
        self.text_id: str | None = None
        self.texts = 0
        self.reasoning = False
        self.tool: int | None = None

    def feed(self, event: StreamEvent) -> list[dict[str, Any]]:
        self.builder.add(event)
        if isinstance(event, TextDelta):
            out = self._close(text=False)
            if self.text_id is None:
                self.text_id = f"t{self.texts}"
                self.texts += 1
                out.append({"type": "text_start", "text_id": self.text_id})
            return [*out, {"type": "text_delta", "delta": event.text, "text_id": self.text_id}]
        if isinstance(event, ReasoningDelta):
            out = self._close(reasoning=False)
            if not self.reasoning:
                self.reasoning = True
                out.append({"type": "reasoning_start"})
            return [*out, {"type": "reasoning_delta", "delta": event.text}]
        if isinstance(event, ToolCallStart):
            out = self._close()
            self.tool = event.index
            return [*out, {"type": "tool_call_start", "tool_call": self._tool(event.index)}]
        if isinstance(event, ToolArgsDelta):
            return [{"type": "tool_call_delta", "tool_call": self._tool(event.index)}]
        if isinstance(event, StreamEnd):
            return [*self._close(), self._finish(event)]
        return []  # StreamOpened: `stream_start` is already sent

    def _close(self, *, text: bool = True, reasoning: bool = True) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if text and self.text_id is not None:
            out.append({"type": "text_end", "text_id": self.text_id})
            self.text_id = None
        if reasoning and self.reasoning:
            out.append({"type": "reasoning_end"})
            self.reasoning = False
        if self.tool is not None:
            out.append({"type": "tool_call_end", "tool_call": self._tool(self.tool)})
            self.tool = None
        return out

    def _tool(self, index: int) -> dict[str, Any]:
        call = self.builder.tool_call(index)
        raw = call.raw_arguments or ""
        return {"id": call.id, "name": call.name, "arguments": call.arguments, "raw_arguments": raw}

    def _finish(self, end: StreamEnd) -> dict[str, Any]:
        reason = end.finish_reason if end.finish_reason in FINISH_REASONS else "stop"
        return finish_event(
            self.request, reason, end.usage, message_json(self.builder.response(end.model))
        )


def finish_event(
    request: LlmRequest, reason: str, usage: Usage, message: dict[str, Any]
) -> dict[str, Any]:
    usage_body = usage_json(usage)
    return {
        "type": "finish",
        "finish_reason": reason,
        "usage": usage_body,
        "response": {
            "id": str(ULID()),
            "model": request.model,
            "provider": request.provider,
            "message": message,
            "finish_reason": reason,
            "usage": usage_body,
            "raw": None,
            "warnings": [],
            "rate_limit": None,
        },
    }


def _error_event(message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"Stream": {"message": message}}, "raw": None}


async def _stream(backend: LlmBackend, request: LlmRequest) -> Response:
    real = streaming(backend)
    if real is None:
        # Simulated: a single finish event.
        finish = finish_event(request, "stop", Usage(), message_json(None))
        response = Response(_single(_frame(finish)), 200, SSE_HEADERS)
        return response
    pump = _Pump(real.stream(request))
    # Until the provider accepts the call (after any retries), a failure is still a plain 502.
    first = await pump.next()
    if isinstance(first, LlmError):
        # Failed before streaming: a plain 502 rather than a stream with one error.
        await pump.close()
        raise _llm_error(first)
    response = Response(_frames(pump, first, Translator(request)), 200, SSE_HEADERS)
    response.timeout = None  # a long generation must not be cut off
    return response


async def _single(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _frames(
    pump: _Pump, first: StreamEvent | LlmError | _Done | None, translator: Translator
) -> AsyncIterator[bytes]:
    try:
        yield _frame({"type": "stream_start"})
        item = first
        while True:
            if item is None:
                yield PING
            elif isinstance(item, _Done):
                return
            elif isinstance(item, LlmError):
                yield _frame(_error_event(item.message))
                return
            else:
                for event in translator.feed(item):
                    yield _frame(event)
            item = await pump.next(KEEP_ALIVE_S)
    finally:
        await pump.close()


HANDLERS: dict[str, Handler] = {"createCompletion": create_completion}
