"""The TLS side of fabro.server: listener settings and the connection-level TLS adapter."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import hypercorn.asyncio.run as hypercorn_run
import pytest
from hypercorn.asyncio.tcp_server import TCPServer

from fabro.auth.certs import IssuedFiles
from fabro.config import TlsSettings
from fabro.errors import StartupError
from fabro.server import _TlsExtensionApp, hypercorn_config, tls_extension_adapter
from tests.auth.conftest import SettingsFactory


def tls(certs: IssuedFiles, **changes: Any) -> TlsSettings:
    values: dict[str, Any] = {
        "cert": certs.server_cert,
        "key": certs.server_key,
        "ca": certs.ca_cert,
    }
    values.update(changes)
    return TlsSettings(**values)


@pytest.mark.parametrize(
    ("strategies", "verify_mode"),
    [
        (("mtls",), ssl.CERT_REQUIRED),
        (("jwt", "mtls"), ssl.CERT_OPTIONAL),
        (("mtls", "jwt"), ssl.CERT_OPTIONAL),
        (("jwt",), ssl.CERT_NONE),
    ],
)
def test_client_certificate_policy(
    make_settings: SettingsFactory,
    certs: IssuedFiles,
    strategies: tuple[str, ...],
    verify_mode: ssl.VerifyMode,
) -> None:
    config = hypercorn_config(make_settings(strategies=strategies, tls=tls(certs)))
    assert config.ssl_enabled
    context = config.create_ssl_context()
    assert context is not None
    assert context.verify_mode == verify_mode
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    # Only mtls loads the client CA; plain TLS requests no client certificate at all.
    assert (config.ca_certs is not None) == ("mtls" in strategies)


def test_no_tls_section_means_plain_http(make_settings: SettingsFactory) -> None:
    assert not hypercorn_config(make_settings()).ssl_enabled


@pytest.mark.parametrize("field", ["cert", "key", "ca"])
def test_unreadable_tls_files_are_one_line_errors(
    make_settings: SettingsFactory, certs: IssuedFiles, tmp_path: Path, field: str
) -> None:
    missing = tmp_path / f"missing.{field}"
    settings = make_settings(strategies=("mtls",), tls=tls(certs, **{field: missing}))
    with pytest.raises(StartupError) as caught:
        hypercorn_config(settings)
    assert str(caught.value) == f"cannot read api.tls.{field}: {missing}: No such file or directory"


def test_a_bad_pem_is_a_startup_error(
    make_settings: SettingsFactory, certs: IssuedFiles, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.crt"
    junk.write_text("not a certificate")
    with pytest.raises(StartupError, match=r"^cannot use \[api\.tls\] files: "):
        hypercorn_config(make_settings(tls=tls(certs, cert=junk)))


def test_the_substitution_is_scoped() -> None:
    with tls_extension_adapter():
        assert hypercorn_run.TCPServer is not TCPServer  # type: ignore[attr-defined]
        assert issubclass(hypercorn_run.TCPServer, TCPServer)  # type: ignore[attr-defined]
        with pytest.raises(RuntimeError), tls_extension_adapter():
            pass
    assert hypercorn_run.TCPServer is TCPServer  # type: ignore[attr-defined]
    with tls_extension_adapter(enabled=False):
        assert hypercorn_run.TCPServer is TCPServer  # type: ignore[attr-defined]


async def test_the_wrapper_adds_the_extension_to_http_scopes_only() -> None:
    seen: list[dict[str, Any]] = []

    async def inner(scope: Any, receive: Any, send: Any, sync_spawn: Any, call_soon: Any) -> None:
        seen.append(scope)

    extension = {"client_cert_chain": ["PEM"], "client_cert_name": "CN=alice"}
    wrapper = _TlsExtensionApp(inner, extension)
    for scope_type in ("http", "websocket", "lifespan"):
        await wrapper({"type": scope_type, "extensions": {}}, None, None, None, None)  # type: ignore[arg-type]
    assert [s["extensions"].get("tls") for s in seen] == [extension, extension, None]
    assert seen[0]["extensions"]["tls"] is not seen[1]["extensions"]["tls"]
