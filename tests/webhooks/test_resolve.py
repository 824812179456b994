"""Webhook hosts are looked up on the sender's own threads (fabro/webhooks/resolve.py).

Found by the API fuzz: deliveries to hosts whose names resolve slowly filled the event loop's
default executor, and the server's own work off the loop (a graph render) waited behind them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fabro.storage.webhook_queue import DueDelivery
from fabro.webhooks.resolve import Resolver
from fabro.webhooks.retry import RetryPolicy
from fabro.webhooks.sender import Sender
from tests.webhooks.receiver import receiver

SECRET = "whsec-resolve-test-0123456789"


def due(url: str, number: int = 0) -> DueDelivery:
    return DueDelivery(f"d{number}", "w1", url, SECRET, False, '{"event":"ping"}', 0)


def sender(timeout_s: float = 5.0) -> Sender:
    return Sender(None, lambda _due: SECRET, RetryPolicy(), timeout_s=timeout_s)  # type: ignore[arg-type]


async def attempt(sender: Sender, url: str, number: int = 0) -> Any:
    async with httpx.AsyncClient(trust_env=False, follow_redirects=False) as client:
        return await sender.attempt(client, due(url, number))


async def test_a_named_host_is_sent_to_by_address_and_keeps_its_name() -> None:
    with receiver() as hook:
        hook.secret = SECRET
        port = hook.url.split(":")[2].split("/")[0]
        result = await attempt(sender(), f"http://localhost:{port}/hook")
        assert result.ok, result
        [got] = hook.received
        assert got.verified and got.headers["Host"] == f"localhost:{port}"


async def test_https_checks_the_certificate_against_the_name_and_an_address_is_not_looked_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resolver = Resolver()
    try:
        target = await resolver.target("https://localhost:8443/hook?x=1")
        assert [str(url) for url in target.urls] == ["https://127.0.0.1:8443/hook?x=1"]
        assert target.host_header == "localhost:8443"
        assert target.extensions == {"sni_hostname": "localhost"}

        def no_lookup(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("an address needs no lookup")

        monkeypatch.setattr(socket, "getaddrinfo", no_lookup)
        by_address = await resolver.target("https://[::1]:9/h")
        assert [str(url) for url in by_address.urls] == ["https://[::1]:9/h"]
        assert by_address.host_header == "[::1]:9" and by_address.extensions == {}
    finally:
        resolver.close()


async def test_a_host_that_does_not_resolve_is_a_failed_attempt_that_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unknown(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unknown)
    result = await attempt(sender(), "https://hooks.invalid/x")
    assert not result.ok
    assert result.error == "cannot resolve the host: Name or service not known"


@pytest.fixture
def stuck_lookups(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Names ending in .stuck take until the event is set to resolve (and then fail), like
    a resolver that does not answer."""
    real = socket.getaddrinfo
    release = threading.Event()

    def lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        if str(host).endswith(".stuck"):
            release.wait(30)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    yield release
    release.set()


async def test_lookups_that_hang_never_hold_the_event_loops_default_threads(
    stuck_lookups: threading.Event,
) -> None:
    hurried = sender(timeout_s=0.5)
    attempts = [
        asyncio.create_task(attempt(hurried, f"https://h{n}.stuck/hook", n)) for n in range(24)
    ]
    await asyncio.sleep(0.2)  # every attempt is waiting for its lookup now
    started = time.monotonic()
    assert await asyncio.wait_for(asyncio.to_thread(lambda: "free"), 2.0) == "free"
    assert time.monotonic() - started < 1.0
    results = await asyncio.gather(*attempts)
    assert {result.error for result in results} == {"no answer within 0.5 s"}


def _certificate(directory: Path, name: str) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate for DNS name ``name`` only (no IP address in it)."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = (directory / "ca.pem", directory / "server.pem", directory / "server.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


class _Accept(BaseHTTPRequestHandler):
    hosts: ClassVar[list[str]] = []  # the Host header of each request

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).hosts.append(self.headers.get("Host", ""))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.mark.parametrize(("certified", "ok"), [("localhost", True), ("other.example", False)])
async def test_https_to_a_named_host_checks_the_certificate_against_the_name(
    tmp_path: Path, certified: str, ok: bool
) -> None:
    ca, cert, key = _certificate(tmp_path, certified)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Accept)
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    server.socket = served.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Accept.hosts = []
    try:
        port = server.server_address[1]
        trusted = ssl.create_default_context(cafile=str(ca))
        async with httpx.AsyncClient(verify=trusted, trust_env=False) as client:
            result = await sender().attempt(client, due(f"https://localhost:{port}/hook"))
    finally:
        server.shutdown()
        server.server_close()
    # The certificate names only `localhost`: the address the request went to (127.0.0.1)
    # would not pass; the name does, and a certificate for another name does not.
    assert result.ok is ok, result
    if ok:
        assert _Accept.hosts == [f"localhost:{port}"]
    else:
        assert "CERTIFICATE_VERIFY_FAILED" in (result.error or ""), result
