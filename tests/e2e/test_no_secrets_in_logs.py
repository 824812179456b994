"""No private key, token or Authorization header in logs or responses, at debug level."""

from __future__ import annotations

import getpass
from pathlib import Path

import httpx
from click.testing import CliRunner

from fabro.auth.keys import ensure_key_pair, mint_token
from fabro.cli import cli
from tests.e2e.conftest import StartServer
from tests.e2e.serverproc import ServerProcess


def pem_body(path: Path) -> list[str]:
    """The base64 lines of a PEM file (what a leaked key would look like in a log)."""
    return [line for line in path.read_text().splitlines() if line and not line.startswith("-")]


def exercise(server: ServerProcess, good: str, **tls: Path) -> list[httpx.Response]:
    """Good, bad and malformed credentials on public, authenticated and unknown routes."""
    header, payload, signature = good.split(".")
    variants = [
        good,
        f"{header}.{payload}.{signature[::-1]}",  # bad signature
        f"{header}.{payload}",  # malformed
        good + "x" * 9000,  # oversized
    ]
    responses = []
    for token in variants:
        with server.client(token=token, **tls) as http:
            for path in ("/user", "/runs", "/health", "/nope", "/runs/01J0000000000000000000000"):
                responses.append(http.get(path))
            responses.append(http.post("/runs", content=b"{not json"))
    return responses


def assert_secret_free(texts: dict[str, str], secrets: dict[str, str]) -> None:
    for where, text in texts.items():
        for name, secret in secrets.items():
            assert secret not in text, f"{name} appears in {where}"


def test_jwt_server_logs_no_secrets(fabro_server: StartServer, tmp_path: Path) -> None:
    server = fabro_server(workdir=tmp_path / "jwt", env={"FABRO_LOG": "debug"})
    keys = tmp_path / "jwt" / "home" / ".fabro" / "keys"
    token = mint_token(
        ensure_key_pair(keys), subject=getpass.getuser(), issuer="fabro-web", ttl_s=600
    )
    banner = next(line.strip() for line in server.stdout.splitlines() if line.startswith("    eyJ"))

    responses = exercise(server, token)
    server.stop()
    secrets = {
        "token": token,
        "token signature": token.rsplit(".", 1)[1],
        "Authorization value": f"Bearer {token}",
        **{
            f"private key line {i}": line
            for i, line in enumerate(pem_body(keys / "jwt_ed25519.pem"))
        },
    }
    assert "DEBUG" in server.stderr  # debug logging really was on
    assert_secret_free({"stderr": server.stderr, "stdout": server.stdout}, secrets)
    # The banner token is printed to stdout on purpose, and nowhere else.
    assert_secret_free({"stderr": server.stderr}, {"banner token": banner})
    assert_secret_free(
        {f"response {r.request.url.path} {r.status_code}": r.text for r in responses},
        {**secrets, "banner token": banner, "header": "Authorization"},
    )
    assert "Traceback" not in server.stderr


def test_tls_server_logs_no_secrets(fabro_server: StartServer, tmp_path: Path) -> None:
    pki = tmp_path / "certs"
    assert (
        CliRunner()
        .invoke(cli, ["certs", "init", "--dir", str(pki), "--client-cn", "alice"])
        .exit_code
        == 0
    )
    config = (
        '[api]\nauthentication_strategies = ["jwt", "mtls"]\n'
        f'[api.tls]\ncert = "{pki / "server.crt"}"\nkey = "{pki / "server.key"}"\n'
        f'ca = "{pki / "ca.crt"}"\n[web.auth]\nallowed_usernames = ["alice"]\n'
    )
    workdir = tmp_path / "tls"
    key = ensure_key_pair(workdir / "data" / "keys")
    server = fabro_server(
        workdir=workdir, config=config, env={"FABRO_LOG": "debug"}, ca=pki / "ca.crt"
    )
    token = mint_token(key, subject="alice", issuer="fabro-web", ttl_s=600)

    responses = exercise(server, token)
    responses += exercise(
        server, token, cert=pki / "client-alice.crt", key=pki / "client-alice.key"
    )
    server.stop()
    secrets = {"token": token, "token signature": token.rsplit(".", 1)[1]}
    for name in ("server.key", "client-alice.key", "ca.key"):
        secrets |= {f"{name} line {i}": line for i, line in enumerate(pem_body(pki / name))}
    secrets |= {
        f"jwt key line {i}": line
        for i, line in enumerate(pem_body(workdir / "data" / "keys" / "jwt_ed25519.pem"))
    }
    assert_secret_free({"stderr": server.stderr, "stdout": server.stdout}, secrets)
    assert_secret_free({f"response {r.status_code}": r.text for r in responses}, secrets)
    assert "Traceback" not in server.stderr
