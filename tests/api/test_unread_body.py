"""A refusal sent before the request's body arrived says `Connection: close` (and the server
closes the connection), so a keep-alive client never sends its next request into a connection
that is going away; an answer after the body was read keeps the connection. Against a real
`fabro serve`, over a raw socket: the test decides when the body is sent."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fabro.api.unread_body import has_body
from fabro.auth.keys import ensure_key_pair, mint_token
from tests.e2e.serverproc import ServerProcess, start_server

CONFIG = """\
[api]
authentication_strategies = ["jwt"]
[web.auth]
allowed_usernames = ["alice"]
"""
QUICK = (
    '{"dot_source": "digraph Q { start [shape=Mdiamond]; exit [shape=Msquare]; start -> exit }"}'
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("unread-body")
    ensure_key_pair(workdir / "data" / "keys")
    proc = start_server(workdir, config=CONFIG)
    yield proc
    proc.stop()


def read_answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    sock.settimeout(10)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_refusal_before_the_body_closes_the_connection_and_says_so(
    server: ServerProcess,
) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        # The headers of a 1,000-byte body, and no body yet: no token, so a 401 comes first.
        head = (
            "POST /runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000\r\n\r\n"
        )
        sock.sendall(head.encode())
        answer = read_answer(sock)  # returns only because the server closed the connection
    status, _, rest = answer.partition(b"\r\n")
    headers = rest.split(b"\r\n\r\n", 1)[0].lower().split(b"\r\n")
    assert status.startswith(b"HTTP/1.1 401")
    assert b"connection: close" in headers


def test_an_answer_after_the_body_keeps_the_connection(
    server: ServerProcess, tmp_path: Path
) -> None:
    key = ensure_key_pair(server.workdir / "data" / "keys")
    token = mint_token(key, subject="alice", issuer="fabro-web", ttl_s=600)
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as http:
        made = http.post("/runs", content=QUICK, headers={"Content-Type": "application/json"})
        assert made.status_code == 201, made.text
        assert made.headers.get("connection") != "close"
        assert http.get("/health").status_code == 200


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], False),
        ([(b"content-length", b"0")], False),
        ([(b"content-length", b"12")], True),
        ([(b"transfer-encoding", b"chunked")], True),
    ],
)
def test_a_body_is_announced_by_its_length_or_its_chunks(
    headers: list[tuple[bytes, bytes]], expected: bool
) -> None:
    assert has_body({"type": "http", "headers": headers}) is expected  # type: ignore[typeddict-item]
