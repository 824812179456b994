"""mTLS and JWT over real TLS handshakes against a real `fabro serve` (config-and-auth.md §4.4).

Certificates come from `fabro certs init` (run through click's CliRunner); a second
`certs init` provides a foreign CA whose client certificates must be refused.
"""

from __future__ import annotations

import socket
import ssl
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from fabro.auth.client import http_client, resolve_client_settings
from fabro.auth.keys import ensure_key_pair, mint_token
from fabro.cli import cli
from tests.e2e.serverproc import ServerProcess, start_server

BOB_DENIED = "Access denied: certificate CN 'bob' is not in [api.tls] allowed_common_names."


@dataclass(frozen=True)
class Pki:
    dir: Path
    output: str  # what `fabro certs init` printed

    @property
    def ca(self) -> Path:
        return self.dir / "ca.crt"

    def client(self, name: str) -> tuple[Path, Path]:
        return self.dir / f"client-{name}.crt", self.dir / f"client-{name}.key"


def certs_init(directory: Path, *names: str) -> Pki:
    args = ["certs", "init", "--dir", str(directory)]
    for name in names:
        args += ["--client-cn", name]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return Pki(directory, result.output)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return certs_init(tmp_path_factory.mktemp("pki") / "certs", "alice", "bob", "ci-bot")


@pytest.fixture(scope="module")
def foreign_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Another CA issuing a client certificate with an allowed CN."""
    return certs_init(tmp_path_factory.mktemp("foreign") / "certs", "alice")


def server_toml(pki: Pki, strategies: list[str], *, names: list[str] | None = None) -> str:
    lines = [
        "[api]",
        f"authentication_strategies = {strategies!r}".replace("'", '"'),
        "",
        "[api.tls]",
        f'cert = "{pki.dir / "server.crt"}"',
        f'key = "{pki.dir / "server.key"}"',
        f'ca = "{pki.ca}"',
    ]
    if names is not None:
        lines.append(f"allowed_common_names = {names!r}".replace("'", '"'))
    lines += ["", "[web.auth]", 'allowed_usernames = ["alice"]', ""]
    return "\n".join(lines)


def running(
    tmp_path_factory: pytest.TempPathFactory, pki: Pki, config: str
) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("server")
    ensure_key_pair(workdir / "data" / "keys")  # the JWT key the jwt strategy verifies with
    server = start_server(workdir, config=config, ca=pki.ca)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def mtls_only(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[ServerProcess]:
    config = server_toml(pki, ["mtls"], names=["alice", "ci-bot"])
    yield from running(tmp_path_factory, pki, config)


@pytest.fixture(scope="module")
def jwt_and_mtls(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[ServerProcess]:
    yield from running(tmp_path_factory, pki, server_toml(pki, ["jwt", "mtls"]))


@pytest.fixture(scope="module")
def tls_jwt_only(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[ServerProcess]:
    yield from running(tmp_path_factory, pki, server_toml(pki, ["jwt"]))


def token_for(server: ServerProcess, user: str) -> str:
    key = ensure_key_pair(server.workdir / "data" / "keys")
    return mint_token(key, subject=user, issuer="fabro-web", ttl_s=300)


def get_user(server: ServerProcess, **credentials: object) -> httpx.Response:
    with server.client(**credentials) as http:  # type: ignore[arg-type]
        return http.get("/user")


def assert_error(response: httpx.Response, status: int, detail: str) -> None:
    titles = {401: "Unauthorized", 403: "Forbidden"}
    assert response.status_code == status
    assert response.json() == {
        "errors": [{"status": str(status), "title": titles[status], "detail": detail}]
    }


def raw_tls_exchange(server: ServerProcess, context: ssl.SSLContext) -> bytes:
    """A handshake and one HTTP/1.1 request on a plain socket; returns what came back."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        with context.wrap_socket(sock, server_hostname="localhost") as tls:
            tls.sendall(b"GET /user HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            return tls.recv(65536)


# ---- mtls only: a certificate is mandatory at the handshake ----


def test_valid_client_certificate_is_the_identity(mtls_only: ServerProcess, pki: Pki) -> None:
    cert, key = pki.client("alice")
    response = get_user(mtls_only, cert=cert, key=key)
    assert response.status_code == 200
    assert response.json() == {"login": "alice"}


def test_identity_over_http2(mtls_only: ServerProcess, pki: Pki) -> None:
    cert, key = pki.client("alice")
    with mtls_only.client(cert=cert, key=key, http2=True) as http:
        response = http.get("/user")
    assert response.http_version == "HTTP/2"  # ALPN h2: the extension reaches h2 scopes too
    assert response.json() == {"login": "alice"}


def test_http11_connection_carries_the_identity_on_every_request(
    mtls_only: ServerProcess, pki: Pki
) -> None:
    cert, key = pki.client("ci-bot")
    with mtls_only.client(cert=cert, key=key, http2=False) as http:
        logins = [http.get("/user").json()["login"] for _ in range(3)]
    assert logins == ["ci-bot"] * 3


def test_no_certificate_fails_the_handshake(mtls_only: ServerProcess, pki: Pki) -> None:
    with pytest.raises(httpx.TransportError):
        get_user(mtls_only)
    # Pinned to TLS 1.2, where the server's verdict is part of the handshake itself.
    context = ssl.create_default_context(cafile=str(pki.ca))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(ssl.SSLError):
        raw_tls_exchange(mtls_only, context)


def test_no_certificate_over_tls13_gets_no_response(mtls_only: ServerProcess, pki: Pki) -> None:
    # In TLS 1.3 the client finishes first; the server's alert arrives on the first read.
    context = ssl.create_default_context(cafile=str(pki.ca))
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    try:
        answer = raw_tls_exchange(mtls_only, context)
    except (ssl.SSLError, ConnectionError):
        return
    assert answer == b""


def test_certificate_from_another_ca_is_rejected(
    mtls_only: ServerProcess, foreign_pki: Pki
) -> None:
    cert, key = foreign_pki.client("alice")  # same CN, wrong issuer
    with pytest.raises(httpx.TransportError):
        get_user(mtls_only, cert=cert, key=key)


def test_server_certificate_is_no_client_certificate(mtls_only: ServerProcess, pki: Pki) -> None:
    # Signed by the right CA, but its extended key usage is serverAuth only.
    with pytest.raises(httpx.TransportError):
        get_user(mtls_only, cert=pki.dir / "server.crt", key=pki.dir / "server.key")


def test_common_name_outside_the_allow_list_is_403(mtls_only: ServerProcess, pki: Pki) -> None:
    cert, key = pki.client("bob")
    assert_error(get_user(mtls_only, cert=cert, key=key), 403, BOB_DENIED)


def test_a_bearer_token_is_not_a_credential_for_mtls_only(
    mtls_only: ServerProcess, pki: Pki
) -> None:
    cert, key = pki.client("bob")
    token = token_for(mtls_only, "alice")
    assert_error(get_user(mtls_only, cert=cert, key=key, token=token), 403, BOB_DENIED)


def test_public_routes_still_need_the_handshake_but_no_identity_check(
    mtls_only: ServerProcess, pki: Pki
) -> None:
    cert, key = pki.client("bob")
    with mtls_only.client(cert=cert, key=key) as http:
        assert http.get("/health").status_code == 200


# ---- jwt + mtls: a certificate is optional, either credential works ----


def test_either_credential_works(jwt_and_mtls: ServerProcess, pki: Pki) -> None:
    cert, key = pki.client("bob")
    assert get_user(jwt_and_mtls, cert=cert, key=key).json() == {"login": "bob"}
    token = token_for(jwt_and_mtls, "alice")
    assert get_user(jwt_and_mtls, token=token).json() == {"login": "alice"}


def test_both_credentials_the_first_strategy_wins(jwt_and_mtls: ServerProcess, pki: Pki) -> None:
    cert, key = pki.client("bob")
    token = token_for(jwt_and_mtls, "alice")
    assert get_user(jwt_and_mtls, cert=cert, key=key, token=token).json() == {"login": "alice"}


def test_a_rejected_token_falls_back_to_the_certificate(
    jwt_and_mtls: ServerProcess, pki: Pki
) -> None:
    cert, key = pki.client("ci-bot")
    token = token_for(jwt_and_mtls, "mallory")  # valid signature, user not allowed: 403
    assert get_user(jwt_and_mtls, cert=cert, key=key, token=token).json() == {"login": "ci-bot"}
    assert_error(
        get_user(jwt_and_mtls, token=token),
        403,
        "Access denied: user 'mallory' is not in [web.auth] allowed_usernames.",
    )


def test_no_credential_is_401(jwt_and_mtls: ServerProcess) -> None:
    assert_error(get_user(jwt_and_mtls), 401, "Authentication required.")


def test_optional_certificate_must_still_verify(
    jwt_and_mtls: ServerProcess, foreign_pki: Pki
) -> None:
    cert, key = foreign_pki.client("alice")
    token = token_for(jwt_and_mtls, "alice")
    with pytest.raises(httpx.TransportError):
        get_user(jwt_and_mtls, cert=cert, key=key, token=token)


def test_client_module_with_the_printed_cli_toml(
    jwt_and_mtls: ServerProcess, pki: Pki, tmp_path: Path
) -> None:
    snippet = pki.output.partition("Add to ~/.fabro/cli.toml:")[2]
    assert tomllib.loads(snippet)["server"]["tls"]["cert"].endswith("client-alice.crt")
    cli_toml = tmp_path / "cli.toml"
    cli_toml.write_text(snippet.replace("https://127.0.0.1:3000", jwt_and_mtls.url))
    settings = resolve_client_settings(env={"HOME": str(tmp_path)}, cli_toml=cli_toml)
    assert settings.base_url == jwt_and_mtls.url and settings.token is None
    with http_client(settings) as http:
        assert http.get("/user").json() == {"login": "alice"}


# ---- TLS without mtls: no certificate is requested ----


def test_tls_without_mtls_ignores_client_certificates(
    tls_jwt_only: ServerProcess, pki: Pki
) -> None:
    cert, key = pki.client("alice")
    assert_error(get_user(tls_jwt_only, cert=cert, key=key), 401, "Authentication required.")
    token = token_for(tls_jwt_only, "alice")
    assert get_user(tls_jwt_only, token=token).json() == {"login": "alice"}


def test_plain_http_is_refused_on_the_tls_listener(tls_jwt_only: ServerProcess) -> None:
    with pytest.raises(httpx.TransportError), httpx.Client(timeout=5) as http:
        http.get(f"http://127.0.0.1:{tls_jwt_only.port}/health")


# ---- a client still sending while the server closes ----


def test_a_client_still_sending_after_the_answer_leaves_no_traceback(
    tmp_path: Path, pki: Pki
) -> None:
    # Found by the no-secrets test: an oversized request gets its 431 and the connection is
    # closed while the client goes on sending; closing TLS then failed with "application data
    # after close notify", which Hypercorn does not expect, and asyncio logged a traceback.
    workdir = tmp_path / "server"
    ensure_key_pair(workdir / "data" / "keys")
    server = start_server(workdir, config=server_toml(pki, ["jwt"]), ca=pki.ca)
    try:
        context = ssl.create_default_context(cafile=str(pki.ca))
        for _ in range(5):
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                with context.wrap_socket(sock, server_hostname="localhost") as tls:
                    tls.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Big: ")
                    try:
                        for _ in range(400):
                            tls.sendall(b"x" * 4096)
                    except OSError:  # ssl.SSLError included: the server has closed
                        pass
        with server.client() as http:
            assert http.get("/health").status_code == 200
    finally:
        server.stop()
    assert "Traceback" not in server.stderr, server.stderr[-3000:]
