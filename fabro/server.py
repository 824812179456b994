"""`fabro serve`: Settings -> Hypercorn config, then serve until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import ssl
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import h11
import hypercorn.asyncio.run as hypercorn_run
import hypercorn.protocol as hypercorn_protocol
from cryptography import x509
from hypercorn.asyncio.run import worker_serve
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.config import Config as HypercornConfig
from hypercorn.config import Sockets
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.typing import AppWrapper, ASGIReceiveCallable, ASGISendCallable, Scope
from hypercorn.utils import wrap_app

from fabro.api.errors import envelope_bytes, status_title
from fabro.api.headers import DEFAULT_HEADERS, FIXED_HEADERS, JSON_CONTENT_TYPE
from fabro.app import create_app
from fabro.auth.keys import ensure_zero_config_keys
from fabro.auth.setup import auth_warnings, zero_config_banner
from fabro.config import Settings
from fabro.errors import StartupError
from fabro.governance.policy import policy_banner
from fabro.llm.simulated import NO_PROVIDER_WARNING
from fabro.server_file import listening_url, remove_server_file, write_server_file
from fabro.services import Services

log = logging.getLogger("fabro.server")

GRACEFUL_TIMEOUT_S = 5.0


def hypercorn_config(settings: Settings) -> HypercornConfig:
    """The Hypercorn configuration for these settings (TLS is added when [api.tls] is set)."""
    config = HypercornConfig()
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    config.bind = [f"{host}:{settings.port}"]
    config.graceful_timeout = GRACEFUL_TIMEOUT_S
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    # SSE streams stay open; the app sends keep-alives itself.
    config.keep_alive_timeout = 75
    apply_tls(config, settings)
    return config


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


async def serve(
    settings: Settings,
    *,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> None:
    """Open services, bind, print the startup line, and serve until a stop signal."""
    env = os.environ if env is None else env
    if settings.zero_config:
        ensure_zero_config_keys(settings)  # creates the data folder (0700) for the keys
    services = await Services.open(settings, env)
    try:
        await services.start()
        app = create_app(settings, services)
        config = hypercorn_config(settings)
        stop = asyncio.Event()

        async def shutdown_trigger() -> None:
            await stop.wait()
            await services.stop_work()

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            # Before the listening line: a stop sent as soon as it is printed is a clean stop.
            loop.add_signal_handler(signum, stop.set)
        sockets: Sockets | None = None
        try:
            sockets = config.create_sockets()
            for sock in (*sockets.secure_sockets, *sockets.insecure_sockets):
                # Listening now, so the URL we print already accepts connections.
                sock.listen(config.backlog)
            suffix = " (dry-run mode)" if settings.dry_run else ""
            # One write for the listening line and the token block: whoever sees the first
            # line (a person, a script, the e2e tests) sees the whole block with it.
            startup = [f"fabro server listening on {settings.url}{suffix}"]
            if banner := zero_config_banner(settings, env, settings.url):  # None unless zero-config
                startup.append(banner)
            sys.stdout.write("\n".join(startup) + "\n")
            sys.stdout.flush()
            for warning in auth_warnings(settings):
                print(f"warning: {warning}", file=sys.stderr, flush=True)
            if services.llm.simulated and not settings.dry_run:
                print(
                    f"warning: {NO_PROVIDER_WARNING} until a provider key is set as a secret "
                    "(fabro secrets set ANTHROPIC_API_KEY; no restart needed)",
                    file=sys.stderr,
                    flush=True,
                )
            print(policy_banner(settings.governance.policy), file=sys.stderr, flush=True)
            services.start_config_watcher(env, flags or {})
            # Where this server listens, for `fabro runs ...` on this machine (any port).
            bound = (*sockets.secure_sockets, *sockets.insecure_sockets)[0]
            write_server_file(settings.data_dir, listening_url(settings.scheme, bound), os.getpid())
            with (
                tls_extension_adapter(enabled=settings.api.tls is not None),
                http_errors_adapter(),
            ):
                await worker_serve(
                    wrap_app(app, config.wsgi_max_body_size, None),
                    config,
                    sockets=sockets,
                    shutdown_trigger=shutdown_trigger,
                )
        finally:
            if sockets is not None:  # closed by Hypercorn once it served; not if it never did
                for sock in (*sockets.secure_sockets, *sockets.insecure_sockets):
                    sock.close()
            remove_server_file(settings.data_dir, os.getpid())
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
    finally:
        await services.close()
        log.info("fabro server stopped")


# ---- TLS: listener settings and the ASGI TLS extension (config-and-auth.md §4.4) ----
#
# Hypercorn 0.18 verifies client certificates during the handshake but never hands them to the
# application. Its asyncio worker (`hypercorn.asyncio.run.worker_serve`) creates one `TCPServer`
# per accepted connection, after the handshake, looking the class up in its module namespace.
# While `serve()` runs with TLS, that name points to `_TlsExtensionTCPServer`, whose `run()` reads
# the connection's SSL object and wraps the connection's app so that every scope carries the
# standard ASGI TLS extension. Nothing else in fabro knows about this; the mTLS authenticator
# reads only `scope["extensions"]["tls"]`. The wrapper implements Hypercorn 0.18's AppWrapper
# call signature (scope, receive, send, sync_spawn, call_soon), hence the narrow pin in
# pyproject.toml and the end-to-end test in tests/e2e/test_tls_auth.py.

_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def apply_tls(config: HypercornConfig, settings: Settings) -> None:
    """Turn on HTTPS from [api.tls] and, with `mtls`, request and verify client certificates."""
    tls = settings.api.tls
    if tls is None:
        return
    strategies = settings.api.authentication_strategies
    files = [("api.tls.cert", tls.cert), ("api.tls.key", tls.key)]
    if "mtls" in strategies:
        if tls.ca is None:
            raise StartupError(
                "the mtls authentication strategy requires [api.tls] with cert, key and ca"
            )
        files.append(("api.tls.ca", tls.ca))
    for label, path in files:
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            raise StartupError(f"cannot read {label}: {path}: {exc.strerror or exc}") from None
    config.certfile = str(tls.cert)
    config.keyfile = str(tls.key)
    if "mtls" in strategies and tls.ca is not None:
        config.ca_certs = str(tls.ca)
        # Alone, mtls makes a certificate mandatory at the handshake; next to jwt it is
        # optional, but one that is presented must still verify against `ca`.
        only_mtls = tuple(strategies) == ("mtls",)
        config.verify_mode = ssl.CERT_REQUIRED if only_mtls else ssl.CERT_OPTIONAL
    # Hypercorn's create_ssl_context() sets TLS 1.2 as the minimum version. Building the
    # context once here turns a bad PEM into a one-line startup error instead of a traceback.
    try:
        config.create_ssl_context()
    except (OSError, ssl.SSLError) as exc:
        raise StartupError(f"cannot use [api.tls] files: {exc}") from None


def tls_extension(ssl_object: ssl.SSLObject) -> dict[str, Any]:
    """The ASGI TLS extension for one connection (client certificate PEMs leaf first)."""
    leaf = ssl_object.getpeercert(binary_form=True)
    chain: list[str] = []
    name: str | None = None
    if leaf:
        # get_verified_chain() exists from Python 3.13 on; before, the leaf is all we get.
        verified = getattr(ssl_object, "get_verified_chain", None)
        ders: list[bytes] = list(verified()) if verified is not None else [leaf]
        chain = [ssl.DER_cert_to_PEM_cert(der) for der in ders]
        try:
            name = x509.load_der_x509_certificate(leaf).subject.rfc4514_string()
        except ValueError:  # OpenSSL accepted it; a stricter parser may not. The CN check decides.
            name = None
    return {
        "client_cert_chain": chain,
        "client_cert_name": name,
        "client_cert_error": None,  # a certificate that fails verification fails the handshake
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,  # Python's ssl module does not expose the IANA number
        "server_cert": None,
    }


class _TlsExtensionApp:
    """Hypercorn app wrapper that adds one connection's TLS extension to each of its scopes."""

    def __init__(self, app: AppWrapper, tls: dict[str, Any]) -> None:
        self.app = app
        self.tls = tls

    async def __call__(
        self,
        scope: Scope,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
        sync_spawn: Callable[..., Any],
        call_soon: Callable[..., Any],
    ) -> None:
        if scope["type"] in ("http", "websocket"):
            extensions = scope.setdefault("extensions", {})
            if extensions is not None:
                # A fresh copy per request: the app may mutate its scope.
                chain = list(self.tls.get("client_cert_chain") or [])
                extensions["tls"] = {**self.tls, "client_cert_chain": chain}
        await self.app(scope, receive, send, sync_spawn, call_soon)


class _TlsExtensionTCPServer(TCPServer):
    """Hypercorn's per-connection TCPServer, with the TLS extension on the connection's app."""

    async def run(self) -> None:
        ssl_object = self.writer.get_extra_info("ssl_object")
        if ssl_object is not None:
            self.app = _TlsExtensionApp(self.app, tls_extension(ssl_object))
        await super().run()

    async def _close(self) -> None:
        try:
            await super()._close()
        except ssl.SSLError as exc:
            # Closing a connection whose client still sends (after an error response such as
            # 431, say) fails with "application data after close notify". Hypercorn expects
            # only the plain socket errors there, so this one would end the connection's task
            # or its app's with a traceback logged at ERROR. The connection is over either way.
            log.debug("TLS connection closed uncleanly: %s", exc.reason or exc)


@contextmanager
def tls_extension_adapter(*, enabled: bool = True) -> Iterator[None]:
    """Within the block, Hypercorn's asyncio worker builds `_TlsExtensionTCPServer`s."""
    if not enabled:
        yield
        return
    with _substituted(hypercorn_run, "TCPServer", _TlsExtensionTCPServer):
        yield


# ---- The HTTP layer's own answers, in the errors envelope (api.md §2) ----
#
# Hypercorn's h11 protocol answers what it cannot parse itself, before any app sees a request:
# 400 (malformed), 431 (a head still incomplete past `h11_max_incomplete_size`) and 501 (a
# transfer coding other than chunked), with an empty body, from
# `H11Protocol._send_error_response`. `_EnvelopeH11Protocol` sends the same status with the
# envelope and the app's common headers. `hypercorn.protocol.ProtocolWrapper` builds each
# connection's HTTP/1 protocol from the `H11Protocol` name of its module, which points to the
# subclass while `serve()` runs (tested in tests/security/test_envelope_everywhere.py against
# the pinned Hypercorn minor series). HTTP/2 reports protocol errors with GOAWAY or RST_STREAM
# frames: there is no response there to carry a body.

_HTTP_LAYER_DETAILS = {
    400: "Malformed HTTP request.",
    431: "Request header fields too large.",
    501: "Transfer-Encoding not supported; only chunked is.",
}
_COMMON_HEADERS = [
    (name.lower().encode(), value.encode())
    for name, value in (*DEFAULT_HEADERS.items(), *FIXED_HEADERS.items())
]


class _EnvelopeH11Protocol(H11Protocol):
    """Hypercorn's HTTP/1 protocol, with its own error responses in the errors envelope."""

    async def _send_error_response(self, status_code: int) -> None:
        detail = _HTTP_LAYER_DETAILS.get(status_code) or f"{status_title(status_code)}."
        body = envelope_bytes(status_code, detail)
        headers = [
            (b"content-type", JSON_CONTENT_TYPE.encode()),
            (b"content-length", b"%d" % len(body)),
            (b"connection", b"close"),
            *_COMMON_HEADERS,
            *self.config.response_headers("h11"),
        ]
        await self._send_h11_event(h11.Response(status_code=status_code, headers=headers))
        await self._send_h11_event(h11.Data(data=body))
        await self._send_h11_event(h11.EndOfMessage())


@contextmanager
def http_errors_adapter() -> Iterator[None]:
    """Within the block, Hypercorn's connections answer protocol errors in the envelope."""
    with _substituted(hypercorn_protocol, "H11Protocol", _EnvelopeH11Protocol):
        yield


@contextmanager
def _substituted(module: ModuleType, name: str, subclass: type) -> Iterator[None]:
    """``module.name`` (a class) replaced by ``subclass`` of it within the block."""
    original = getattr(module, name)
    if original is not subclass.__base__:
        raise RuntimeError(f"{module.__name__}.{name} is already substituted")
    setattr(module, name, subclass)
    try:
        yield
    finally:
        setattr(module, name, original)
