"""Client settings (cli.md §6): precedence of server, token and TLS sources; the httpx clients."""

from __future__ import annotations

import getpass
import os
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from fabro.auth.certs import IssuedFiles
from fabro.auth.client import (
    DEFAULT_SERVER,
    ClientSettings,
    async_http_client,
    http_client,
    resolve_client_settings,
)
from fabro.auth.keys import ensure_key_pair, mint_token, private_key_pem
from fabro.errors import StartupError
from fabro.server_file import write_server_file


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME with an empty ~/.fabro, given in ``env``. The process HOME is another, empty
    folder: a `~` read through it instead of ``env`` finds nothing there."""
    (tmp_path / ".fabro").mkdir()
    (tmp_path / "process-home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "process-home"))
    return tmp_path


def write_cli_toml(home: Path, text: str) -> Path:
    path = home / ".fabro" / "cli.toml"
    path.write_text(text)
    return path


def test_defaults(home: Path) -> None:
    settings = resolve_client_settings(env={"HOME": str(home)})
    assert settings == ClientSettings(base_url=DEFAULT_SERVER)


def test_server_precedence(home: Path) -> None:
    write_cli_toml(home, '[server]\nbase_url = "https://from-toml:1/"\n')
    env = {"HOME": str(home), "FABRO_SERVER": "http://from-env:2"}
    assert resolve_client_settings(server="http://flag:3", env=env).base_url == "http://flag:3"
    assert resolve_client_settings(env=env).base_url == "http://from-env:2"
    assert resolve_client_settings(env={"HOME": str(home)}).base_url == "https://from-toml:1"


def test_token_precedence(home: Path) -> None:
    write_cli_toml(home, '[server]\ntoken = "toml-token"\n')
    env = {"HOME": str(home), "FABRO_TOKEN": "env-token"}
    flag = resolve_client_settings(token="flag-token", env=env)
    assert (flag.token, flag.token_source) == ("flag-token", "--token")
    assert resolve_client_settings(env=env).token == "env-token"
    from_toml = resolve_client_settings(env={"HOME": str(home)})
    assert (from_toml.token, from_toml.token_source) == ("toml-token", "cli.toml")


def test_auto_token_from_the_data_dir_key(home: Path) -> None:
    key = ensure_key_pair(home / ".fabro" / "keys")
    settings = resolve_client_settings(env={"HOME": str(home)})
    assert settings.token_source == "auto" and settings.token is not None
    claims = jwt.decode(settings.token, key.public_key(), algorithms=["EdDSA"], issuer="fabro-web")
    assert claims["sub"] == getpass.getuser()
    assert claims["exp"] - claims["iat"] == 300
    assert settings.headers()["Authorization"] == f"Bearer {settings.token}"


def test_auto_token_from_the_environment_key_and_configured_issuer(home: Path) -> None:
    key = ensure_key_pair(home / "elsewhere")
    (home / ".fabro" / "server.toml").write_text('[api.jwt]\nissuer = "corp"\n')
    env = {"HOME": str(home), "FABRO_JWT_PRIVATE_KEY": private_key_pem(key).decode()}
    settings = resolve_client_settings(env=env)
    assert settings.token is not None
    jwt.decode(settings.token, key.public_key(), algorithms=["EdDSA"], issuer="corp")


def test_no_auto_token_with_a_client_certificate(home: Path, certs: IssuedFiles) -> None:
    ensure_key_pair(home / ".fabro" / "keys")
    _, cert, key = certs.clients[0]
    settings = resolve_client_settings(cert=cert, key=key, env={"HOME": str(home)})
    assert settings.token is None and settings.cert == cert
    # An explicit token still combines with a certificate.
    both = resolve_client_settings(cert=cert, key=key, token="t", env={"HOME": str(home)})
    assert both.token == "t" and both.cert == cert


def test_tls_files_from_cli_toml_relative_to_it(home: Path) -> None:
    write_cli_toml(
        home,
        '[server.tls]\ncert = "certs/c.crt"\nkey = "~/k.key"\nca = "/abs/ca.crt"\n[other]\nx = 1\n',
    )
    settings = resolve_client_settings(env={"HOME": str(home)})
    assert settings.cert == home / ".fabro" / "certs" / "c.crt"
    assert settings.key == home / "k.key"
    assert settings.ca == Path("/abs/ca.crt")
    flags = resolve_client_settings(
        cert="a.crt", key="~/a.key", ca="ca.pem", env={"HOME": str(home)}
    )
    assert (flags.cert, flags.key, flags.ca) == (Path("a.crt"), home / "a.key", Path("ca.pem"))


@pytest.mark.parametrize(
    ("toml", "kwargs", "message"),
    [
        ("", {"cert": "a.crt"}, "--tls-cert and --tls-key must be given together"),
        ('[server.tls]\ncert = "a.crt"\n', {}, "[server.tls] needs both cert and key"),
        ("[server]\nbase_url = 3\n", {}, "server.base_url must be a string"),
        ("[server\n", {}, "cli.toml: "),
    ],
)
def test_configuration_errors(home: Path, toml: str, kwargs: dict[str, Any], message: str) -> None:
    write_cli_toml(home, toml)
    with pytest.raises(StartupError) as caught:
        resolve_client_settings(env={"HOME": str(home)}, **kwargs)
    assert message in str(caught.value)


def test_repr_hides_the_token() -> None:
    settings = ClientSettings(base_url="http://x", token="secret-token")
    assert "secret-token" not in repr(settings)


def test_ssl_context_loads_ca_and_client_certificate(certs: IssuedFiles) -> None:
    _, cert, key = certs.clients[0]
    settings = ClientSettings(base_url="https://127.0.0.1:1", cert=cert, key=key, ca=certs.ca_cert)
    context = settings.ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert [c["subject"] for c in context.get_ca_certs()] == [
        ((("commonName", "fabro local CA"),),)
    ]
    with pytest.raises(StartupError, match="cannot load client certificate"):
        ClientSettings(base_url="x", cert=certs.ca_cert, key=key).ssl_context()


async def test_clients_carry_base_url_and_headers(home: Path) -> None:
    key = ensure_key_pair(home / "k")
    token = mint_token(key, subject="alice", issuer="fabro-web", ttl_s=60)
    settings = ClientSettings(base_url="http://127.0.0.1:9", token=token)
    with http_client(settings) as sync_client:
        assert sync_client.base_url == httpx.URL("http://127.0.0.1:9")
        assert sync_client.headers["Authorization"] == f"Bearer {token}"
    async with async_http_client(settings) as async_client:
        assert async_client.headers["Authorization"] == f"Bearer {token}"
        assert async_client.headers["User-Agent"].startswith("fabro/")


def test_a_local_server_is_found_in_the_data_dir(home: Path) -> None:
    data = home / ".fabro"
    write_server_file(data, "http://127.0.0.1:4567", os.getpid())
    found = resolve_client_settings(env={"HOME": str(home)})
    assert (found.base_url, found.server_source) == (
        "http://127.0.0.1:4567",
        str(data / "server.json"),
    )
    other = home / "other"
    other.mkdir()
    write_server_file(other, "http://127.0.0.1:4568", os.getpid())
    for data_dir in (other, "~/other"):
        assert resolve_client_settings(data_dir=data_dir, env={"HOME": str(home)}).base_url == (
            "http://127.0.0.1:4568"
        )
    assert resolve_client_settings(
        env={"HOME": str(home), "FABRO_DATA_DIR": "~/other"}
    ).base_url == ("http://127.0.0.1:4568")
    env = {"HOME": str(home), "FABRO_DATA_DIR": str(other)}
    assert resolve_client_settings(env=env).base_url == "http://127.0.0.1:4568"
    # Anything the user names wins over discovery.
    assert resolve_client_settings(server="http://flag:1", env=env).base_url == "http://flag:1"
    write_cli_toml(home, '[server]\nbase_url = "http://toml:2"\n')
    assert resolve_client_settings(env=env).base_url == "http://toml:2"


def test_a_dead_local_server_is_ignored(home: Path) -> None:
    process = subprocess.Popen([sys.executable, "-c", ""])
    process.wait()
    write_server_file(home / ".fabro", "http://127.0.0.1:4567", process.pid)
    settings = resolve_client_settings(env={"HOME": str(home)})
    assert (settings.base_url, settings.server_source) == (DEFAULT_SERVER, "default")


@pytest.mark.parametrize(
    ("source", "origin"),
    [
        ("default", "(the default; no local server recorded where it listens; "),
        ("--server", "(from --server; "),
        ("FABRO_SERVER", "(from FABRO_SERVER; "),
        ("cli.toml", "(from cli.toml [server] base_url; "),
        ("/d/server.json", "(from /d/server.json; "),
    ],
)
def test_unreachable_names_where_the_url_came_from(source: str, origin: str) -> None:
    settings = ClientSettings(base_url="http://h:1", server_source=source)
    assert settings.unreachable("refused") == (
        f"cannot connect to http://h:1: refused {origin}start one with `fabro serve`, "
        "or name one with --server URL or FABRO_SERVER)"
    )
