"""When the SDK sends a request again: 503 and 429 (after Retry-After), broken connections,
only for requests safe to repeat, never more than ``retries`` times. Against a real HTTP
server on 127.0.0.1 that answers from a script."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from fabro.client import FabroClient
from fabro.client.calls import Call
from fabro.client.errors import ServiceUnavailableError, TooManyRequestsError
from fabro.client.retry import RetryPolicy, retry_after

HEALTHY = json.dumps({"status": "ok"}).encode()


class Scripted(ThreadingHTTPServer):
    """Answers each request with the next (status, headers) of ``script`` (200 when done)."""

    def __init__(self, script: list[tuple[int, dict[str, str]]]) -> None:
        super().__init__(("127.0.0.1", 0), Answer)
        self.script = list(script)
        self.seen: list[tuple[str, str, float]] = []
        self.headers: list[dict[str, str]] = []


class Answer(BaseHTTPRequestHandler):
    server: Scripted

    def answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server.seen.append((self.command, self.path, time.monotonic()))
        self.server.headers.append(dict(self.headers))
        status, headers = self.server.script.pop(0) if self.server.script else (200, {})
        body = (
            HEALTHY
            if status == 200
            else json.dumps(
                {"errors": [{"status": str(status), "title": "Busy", "detail": "try later"}]}
            ).encode()
        )
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = answer  # noqa: N815 (http.server calls them by these names)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[list[Scripted]]:
    servers: list[Scripted] = []
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()


def start(servers: list[Scripted], *script: tuple[int, dict[str, str]]) -> Scripted:
    server = Scripted(list(script))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    servers.append(server)
    return server


def client(server: Scripted, retries: int = 3) -> FabroClient:
    host, port = server.server_address[:2]
    return FabroClient(f"http://{host!s}:{port}", token="t", env={}, retries=retries)


def test_a_503_is_retried_after_its_retry_after(serve: list[Scripted]) -> None:
    server = start(serve, (503, {"Retry-After": "1"}), (429, {"Retry-After": "0"}))
    with client(server) as fabro:
        assert fabro.health().status == "ok"
    times = [moment for _, _, moment in server.seen]
    assert len(times) == 3 and times[1] - times[0] >= 0.95  # waited as asked


def test_retries_end_with_the_last_error(serve: list[Scripted]) -> None:
    server = start(serve, *[(503, {"Retry-After": "0"})] * 3)
    with client(server, retries=2) as fabro, pytest.raises(ServiceUnavailableError) as error:
        fabro.health()
    assert len(server.seen) == 3 and error.value.detail == "try later"


def test_a_request_not_safe_to_repeat_is_sent_once(serve: list[Scripted]) -> None:
    server = start(serve, (429, {"Retry-After": "0"}))
    with client(server) as fabro, pytest.raises(TooManyRequestsError):
        fabro.test_model("m")  # a model test spends tokens each time it is sent
    assert [(method, path) for method, path, _ in server.seen] == [("POST", "/models/m/test")]


def test_an_acting_request_is_retried_with_the_same_idempotency_key(
    serve: list[Scripted],
) -> None:
    server = start(serve, (429, {"Retry-After": "0"}), (429, {"Retry-After": "0"}))
    with client(server) as fabro:
        fabro.steer_run("r", "go on")  # the server replays a repeat: read once
    keys = {headers.get("Idempotency-Key") for headers in server.headers}
    assert len(server.seen) == 3 and len(keys) == 1 and None not in keys


def test_the_policy() -> None:
    policy = RetryPolicy(retries=2, base_s=1.0, max_s=1.5)
    safe, unsafe = Call("GET", "/x", retry_safe=True), Call("POST", "/x")
    request = httpx.Request("GET", "http://x/x")
    busy = httpx.Response(503, request=request)
    assert 0.5 <= (policy.delay(safe, 0, None) or 0) <= 1.0  # jitter: half to all of base
    assert 0.75 <= (policy.delay(safe, 1, busy) or 0) <= 1.5  # capped at max_s
    assert policy.delay(safe, 2, None) is None  # no retry left
    assert policy.delay(unsafe, 0, None) is None
    assert policy.delay(safe, 0, httpx.Response(500, request=request)) is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    dated = httpx.Response(429, headers={"Retry-After": later}, request=request)
    assert 25 <= (retry_after(dated) or 0) <= 30
    assert retry_after(httpx.Response(429, headers={"Retry-After": "soon"})) is None
