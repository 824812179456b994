"""A local HTTP server that speaks the Anthropic Messages and OpenAI Chat Completions wire
protocols (streaming included), scripted per test.

Raw asyncio rather than a framework: a test must be able to send a malformed body or cut a
stream half way, which frameworks make hard on purpose. One request per connection
(`Connection: close`); streamed bodies use chunked transfer encoding, so a dropped stream is a
real protocol error on the client side.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from quart import Quart

from fabro.app import create_app
from fabro.config import Settings
from fabro.services import Services

ANTHROPIC_PATH = "/v1/messages"
OPENAI_PATH = "/v1/chat/completions"

Body = dict[str, Any]


@dataclass
class Reply:
    """One scripted response: SSE events (chunked) or a plain body."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    events: Callable[[Body], list[bytes]] | None = None
    body: bytes = b""
    drop_after: int | None = None  # cut the connection after this many events
    pause_s: float = 0.0  # wait between events (streaming tests)
    hold_after: int | None = None  # with pause_s: wait only once, after this many events


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Body


def sse(event: str | None, data: Any) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data)
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {text}\n\n".encode()


ToolUse = tuple[str, str, dict[str, Any]]  # (id, name, arguments)


def _pieces(text: str) -> list[str]:
    """A text cut in two, as streams deliver it."""
    middle = len(text) // 2
    return [part for part in (text[:middle], text[middle:]) if part]


def anthropic(
    text: str = "",
    tools: Sequence[ToolUse] = (),
    *,
    input_tokens: int = 100,
    output_tokens: int = 20,
    cache_read: int = 0,
    model: str | None = None,
    stop_reason: str | None = None,
    complete: bool = True,
) -> Reply:
    """A streamed Messages API response; ``complete=False`` leaves out `message_stop`."""

    def events(body: Body) -> list[bytes]:
        out = [
            sse(
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": "msg_01",
                        "type": "message",
                        "role": "assistant",
                        "model": model or body["model"],
                        "content": [],
                        "stop_reason": None,
                        "usage": {
                            "input_tokens": input_tokens,
                            "output_tokens": 1,
                            "cache_read_input_tokens": cache_read,
                            "cache_creation_input_tokens": 0,
                        },
                    },
                },
            ),
            sse("ping", {"type": "ping"}),
        ]
        index = 0
        if text:
            out.append(
                sse(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
            )
            for piece in _pieces(text):
                delta = {"type": "text_delta", "text": piece}
                out.append(
                    sse(
                        "content_block_delta",
                        {"type": "content_block_delta", "index": index, "delta": delta},
                    )
                )
            out.append(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
            index += 1
        for call_id, name, arguments in tools:
            block = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
            out.append(
                sse(
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": block},
                )
            )
            for piece in _pieces(json.dumps(arguments)):
                delta = {"type": "input_json_delta", "partial_json": piece}
                out.append(
                    sse(
                        "content_block_delta",
                        {"type": "content_block_delta", "index": index, "delta": delta},
                    )
                )
            out.append(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
            index += 1
        reason = stop_reason or ("tool_use" if tools else "end_turn")
        out.append(
            sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": reason, "stop_sequence": None},
                    "usage": {"output_tokens": output_tokens},
                },
            )
        )
        if complete:
            out.append(sse("message_stop", {"type": "message_stop"}))
        return out

    return Reply(headers={"content-type": "text/event-stream"}, events=events)


def openai(
    text: str = "",
    tools: Sequence[ToolUse] = (),
    *,
    prompt_tokens: int = 100,
    completion_tokens: int = 20,
    cached_tokens: int = 0,
    reasoning_tokens: int = 0,
    model: str | None = None,
    finish_reason: str | None = None,
    complete: bool = True,
) -> Reply:
    """A streamed chat completion; the usage chunk comes when the request asks for it."""

    def events(body: Body) -> list[bytes]:
        name = model or body["model"]

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return sse(
                None,
                {
                    "id": "chatcmpl-1",
                    "object": "chat.completion.chunk",
                    "model": name,
                    "choices": [choice],
                },
            )

        out = [chunk({"role": "assistant", "content": ""})]
        out += [chunk({"content": piece}) for piece in _pieces(text)]
        for number, (call_id, tool, arguments) in enumerate(tools):
            start = {
                "index": number,
                "id": call_id,
                "type": "function",
                "function": {"name": tool, "arguments": ""},
            }
            out.append(chunk({"tool_calls": [start]}))
            for piece in _pieces(json.dumps(arguments)):
                more = {"index": number, "function": {"arguments": piece}}
                out.append(chunk({"tool_calls": [more]}))
        if not complete:
            return out
        out.append(chunk({}, finish_reason or ("tool_calls" if tools else "stop")))
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": cached_tokens},
                "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
            }
            out.append(
                sse(None, {"id": "chatcmpl-1", "model": name, "choices": [], "usage": usage})
            )
        out.append(sse(None, "[DONE]"))
        return out

    return Reply(headers={"content-type": "text/event-stream"}, events=events)


def error(status: int, message: str, *, retry_after: str | None = None) -> Reply:
    """An error status with the provider-style JSON error body."""
    headers = {"content-type": "application/json"}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    body = json.dumps({"type": "error", "error": {"type": "api_error", "message": message}})
    return Reply(status=status, headers=headers, body=body.encode())


def raw(body: bytes, content_type: str = "application/json", status: int = 200) -> Reply:
    return Reply(status=status, headers={"content-type": content_type}, body=body)


def dropped(reply: Reply, after: int) -> Reply:
    """``reply`` with the connection cut after ``after`` events."""
    return Reply(status=reply.status, headers=reply.headers, events=reply.events, drop_after=after)


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 429: "Too Many Requests"}


class FakeProviders:
    """The server: replies are popped per path in order; requests are recorded."""

    def __init__(self) -> None:
        self.scripts: dict[str, deque[Reply]] = {ANTHROPIC_PATH: deque(), OPENAI_PATH: deque()}
        self.requests: list[Recorded] = []
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.on_request: Callable[[Recorded], Awaitable[None]] | None = None  # before replying
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def anthropic(self, *replies: Reply) -> None:
        self.scripts[ANTHROPIC_PATH].extend(replies)

    def openai(self, *replies: Reply) -> None:
        self.scripts[OPENAI_PATH].extend(replies)

    def bodies(self, path: str) -> list[Body]:
        return [request.body for request in self.requests if request.path == path]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            # A reply paused in the middle of a stream whose client has gone.
            for task in list(self._handlers):
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._serve_one(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away
        except asyncio.CancelledError:
            pass  # closed by close(): end quietly (asyncio would log a cancelled handler)
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line = (await reader.readline()).decode()
        if not request_line.strip():
            return
        _method, target, _version = request_line.split(" ", 2)
        headers: dict[str, str] = {}
        while (line := (await reader.readline()).decode()) not in ("\r\n", "\n", ""):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        data = await reader.readexactly(length) if length else b""
        body = json.loads(data) if data else {}
        path = target.split("?", 1)[0]
        recorded = Recorded(path, headers, body)
        self.requests.append(recorded)
        if self.on_request is not None:
            await self.on_request(recorded)
        script = self.scripts.get(path)
        reply = script.popleft() if script else error(500, f"no scripted reply for {path}")
        await self._write(writer, reply, body)

    async def _write(self, writer: asyncio.StreamWriter, reply: Reply, body: Body) -> None:
        reason = _REASONS.get(reply.status, "Status")
        head = [f"HTTP/1.1 {reply.status} {reason}", "connection: close"]
        head += [f"{name}: {value}" for name, value in reply.headers.items()]
        if reply.events is None:
            head.append(f"content-length: {len(reply.body)}")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + reply.body)
            await writer.drain()
            return
        head.append("transfer-encoding: chunked")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        for number, event in enumerate(reply.events(body)):
            if reply.drop_after is not None and number >= reply.drop_after:
                await writer.drain()
                return  # no terminating chunk: the client sees a broken stream
            writer.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
            await writer.drain()
            if reply.pause_s and reply.hold_after in (None, number + 1):
                await asyncio.sleep(reply.pause_s)
        writer.write(b"0\r\n\r\n")
        await writer.drain()


@contextlib.asynccontextmanager
async def running() -> AsyncIterator[FakeProviders]:
    server = FakeProviders()
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def provider_env(server: FakeProviders) -> dict[str, str]:
    """Environment variables that point both providers at ``server``."""
    return {
        "ANTHROPIC_API_KEY": "sk-ant-fake-0123456789abcdefghij",
        "ANTHROPIC_BASE_URL": server.url,
        "OPENAI_API_KEY": "sk-fake-0123456789abcdefghijklmn",
        "OPENAI_BASE_URL": server.url + "/v1",
    }


@contextlib.asynccontextmanager
async def live_app(settings: Settings, env: Mapping[str, str]) -> AsyncIterator[Quart]:
    """An app (with its services) whose process environment is ``env``."""
    services = await Services.open(settings, env={"HOME": str(settings.data_dir.parent), **env})
    await services.start()
    try:
        application = create_app(settings, services)
        async with application.test_app():
            yield application
    finally:
        await services.close()


class ThreadedFake:
    """The fake providers on an event loop of their own, for a synchronous test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = FakeProviders()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fake-providers")

    def __enter__(self) -> FakeProviders:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(5)
        return self.server

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
