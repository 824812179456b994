"""Finding 14: what the HTTP layer answers on its own is in the errors envelope too.

Hypercorn's h11 layer answers malformed requests (400), oversized headers (431) and unknown
transfer codings (501) itself, before any app runs; they used to go out with empty bodies.
Werkzeug's routing answered `GET /runs//events` with a 308 redirect and an HTML body. Both are
checked on the bytes a raw socket reads from a real `fabro serve`, over plain HTTP and TLS, and
every route of the table is tried with doubled and trailing slashes.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hypercorn.protocol as hypercorn_protocol
import pytest
from hypercorn.protocol.h11 import H11Protocol
from quart.typing import TestClientProtocol as Client

from fabro.api.routes import ROUTES, Route
from fabro.auth.certs import IssuedFiles, init_certs
from fabro.auth.keys import ensure_key_pair
from fabro.server import http_errors_adapter
from tests.e2e.serverproc import ServerProcess, start_server
from tests.security.conftest import Attacked

# A head still incomplete past h11's 16 KiB limit (h11_max_incomplete_size). It ends there, so
# the server has read all of it when it answers and closes: unread bytes would make the close a
# reset that can discard the answer before the client reads it.
TOO_LARGE_HEAD = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 20_000
BAD_REQUESTS = [
    # (case, raw request, status, title)
    (
        "header-too-large",
        TOO_LARGE_HEAD,
        431,
        "Request Header Fields Too Large",
    ),
    (
        "header-without-colon",
        b"GET /health HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
        400,
        "Bad Request",
    ),
    ("garbage-request-line", b"\x16\x03\x01 nonsense\r\n\r\n", 400, "Bad Request"),
    ("no-host", b"GET /health HTTP/1.1\r\n\r\n", 400, "Bad Request"),
    (
        "unknown-transfer-coding",
        b"POST /runs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        501,
        "Not Implemented",
    ),
]


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def read_response(sock: socket.socket) -> RawResponse:
    """One HTTP/1.1 response read to its Content-Length (the server closes afterwards)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        assert name.lower() not in headers, f"duplicate header {name}"
        headers[name.lower()] = value.strip()
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, f"body cut short: {body!r}"
        body += chunk
    assert len(body) == length, body
    return RawResponse(int(status_line.split()[1]), headers, body)


def exchange(connect: socket.socket, request: bytes) -> RawResponse:
    with connect as sock:
        sock.settimeout(10)
        sock.sendall(request)
        return read_response(sock)


def assert_layer_envelope(response: RawResponse, status: int, title: str) -> None:
    assert response.status == status, response
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["connection"] == "close"
    body = json.loads(response.body)
    assert set(body) == {"errors"} and len(body["errors"]) == 1, body
    error = body["errors"][0]
    assert error["status"] == str(status) and error["title"] == title, body
    assert error["detail"].strip(), body


@pytest.mark.parametrize(
    ("case", "request_bytes", "status", "title"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS]
)
def test_http_layer_errors_are_enveloped(
    attacked: Attacked, case: str, request_bytes: bytes, status: int, title: str
) -> None:
    port = attacked.server.port
    response = exchange(socket.create_connection(("127.0.0.1", port)), request_bytes)
    assert_layer_envelope(response, status, title)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    certs: IssuedFiles = init_certs(tmp_path_factory.mktemp("certs"), ["alice"])
    workdir = tmp_path_factory.mktemp("tls-server")
    ensure_key_pair(workdir / "data" / "keys")
    config = (
        '[api]\nauthentication_strategies = ["jwt"]\n'
        f'[api.tls]\ncert = "{certs.server_cert}"\nkey = "{certs.server_key}"\n'
        '[web.auth]\nallowed_usernames = ["alice"]\n'
    )
    server = start_server(workdir, config=config, ca=certs.ca_cert)
    try:
        yield server, certs.ca_cert
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("case", "request_bytes", "status", "title"),
    [c for c in BAD_REQUESTS if c[0] in ("header-too-large", "header-without-colon")],
    ids=["header-too-large", "header-without-colon"],
)
def test_http_layer_errors_are_enveloped_over_tls(
    tls_server: tuple[ServerProcess, Path],
    case: str,
    request_bytes: bytes,
    status: int,
    title: str,
) -> None:
    server, ca = tls_server
    context = ssl.create_default_context(cafile=str(ca))
    context.set_alpn_protocols(["http/1.1"])
    raw = socket.create_connection(("127.0.0.1", server.port))
    response = exchange(context.wrap_socket(raw, server_hostname="127.0.0.1"), request_bytes)
    assert_layer_envelope(response, status, title)


def test_a_good_request_after_the_errors_still_works(attacked: Attacked) -> None:
    with attacked.client() as http:
        assert http.get("/health").json() == {"status": "ok"}


def slash_variants(route: Route) -> list[str]:
    """The route's path with each slash doubled, and with a trailing slash."""
    path = route.path.format(**dict.fromkeys(route.path_params, "X1"))
    variants = [path[:index] + "/" + path[index:] for index, char in enumerate(path) if char == "/"]
    variants += [path + "/", path.replace("/X1", "/")]
    return [variant for variant in variants if variant != path]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.operation_id)
async def test_no_route_redirects_or_answers_html(
    client: Client, auth_headers: dict[str, str], route: Route
) -> None:
    """Werkzeug drops leading slashes (`//runs` is `/runs`); every other variant is a 404."""
    endless = route.method == "GET" and route.events is not None and not route.path_params
    for path in slash_variants(route):
        if endless and path.startswith("//"):
            continue  # `//events` is `/events`: a stream that opens and never ends
        response = await client.open(path, method=route.method, headers=auth_headers)
        body = await response.get_data()
        where = f"{route.method} {path}"
        assert not 300 <= response.status_code < 400, (where, response.status_code, body[:200])
        assert response.headers["Content-Type"] == "application/json; charset=utf-8", where
        if not path.startswith("//"):
            assert response.status_code == 404, (where, response.status_code)
            assert set(json.loads(body)) == {"errors"}, where


def test_empty_run_id_segment_is_a_404(attacked: Attacked) -> None:
    with attacked.client() as http:
        response = http.get("/runs//events")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.json() == {
        "errors": [{"status": "404", "title": "Not Found", "detail": "Not found."}]
    }


def test_the_protocol_substitution_is_scoped() -> None:
    with http_errors_adapter():
        assert hypercorn_protocol.H11Protocol is not H11Protocol  # type: ignore[attr-defined]
        assert issubclass(hypercorn_protocol.H11Protocol, H11Protocol)  # type: ignore[attr-defined]
        with pytest.raises(RuntimeError), http_errors_adapter():
            pass
    assert hypercorn_protocol.H11Protocol is H11Protocol  # type: ignore[attr-defined]
