"""Signing in to the web UI against a real `fabro serve`: the printed link, `fabro token
--link`, and a client certificate under mutual TLS (a real TLS handshake)."""

from __future__ import annotations

import getpass
import re
import subprocess
import sys
from pathlib import Path

import httpx
from click.testing import CliRunner

from fabro.auth.keys import ensure_key_pair
from fabro.cli import cli
from fabro.ui.auth import COOKIE
from tests.e2e.conftest import StartServer
from tests.e2e.serverproc import REPO_ROOT, ServerProcess, base_env

CN = "dana-from-cert"
LINK_LINE = re.compile(r"^  Sign in to the web UI: (\S+)$", re.MULTILINE)


def sign_in(server: ServerProcess, link: str, **client: object) -> httpx.Response:
    with server.client(**client) as http:  # type: ignore[arg-type]
        return http.get(link, follow_redirects=False)


def test_the_printed_link_and_fabro_token_link_sign_in_once(
    fabro_server: StartServer, tmp_path: Path
) -> None:
    workdir = tmp_path / "zero"
    server = fabro_server(workdir=workdir)
    match = LINK_LINE.search(server.stdout)
    assert match is not None, server.stdout
    link = match[1]
    assert link.startswith(f"{server.url}/ui/signin/link?token=")

    first = sign_in(server, link)
    assert first.status_code == 303 and first.headers["location"] == "/ui/"
    cookie = first.cookies[COOKIE]
    set_cookie = first.headers["set-cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    with server.client(cookies={COOKIE: cookie}) as http:
        assert http.get("/user").json() == {"login": getpass.getuser()}
    assert sign_in(server, link).status_code == 401  # once only

    minted = subprocess.run(
        [sys.executable, "-m", "fabro", "token", "--link"],
        cwd=REPO_ROOT,
        env=base_env(workdir / "home"),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert minted.startswith(f"{server.url}/ui/signin/link?token=")  # the running server's URL
    assert sign_in(server, minted).status_code == 303
    assert "Traceback" not in server.stderr


def test_a_client_certificate_signs_a_browser_in_under_mutual_tls(
    fabro_server: StartServer, tmp_path: Path
) -> None:
    pki = tmp_path / "certs"
    # A CN that is neither the OS user nor the tests' usual name: the session must carry it.
    made = CliRunner().invoke(cli, ["certs", "init", "--dir", str(pki), "--client-cn", CN])
    assert made.exit_code == 0, made.output
    config = (
        '[api]\nauthentication_strategies = ["jwt", "mtls"]\n'
        f'[api.tls]\ncert = "{pki / "server.crt"}"\nkey = "{pki / "server.key"}"\n'
        f'ca = "{pki / "ca.crt"}"\n[web.auth]\nallowed_usernames = ["alice", "{CN}"]\n'
    )
    ensure_key_pair(tmp_path / "tls" / "data" / "keys")  # jwt too: certificates are optional
    server = fabro_server(workdir=tmp_path / "tls", config=config, ca=pki / "ca.crt")
    signed = sign_in(
        server,
        "/ui/signin?next=/ui/runs/new",
        cert=pki / f"client-{CN}.crt",
        key=pki / f"client-{CN}.key",
    )
    assert signed.status_code == 303 and signed.headers["location"] == "/ui/runs/new"
    set_cookie = signed.headers["set-cookie"]
    assert "Secure" in set_cookie and "HttpOnly" in set_cookie  # TLS: the cookie stays on it
    # The session alone, without the certificate, is the certificate's CN.
    with server.client(cookies={COOKIE: signed.cookies[COOKIE]}) as http:
        assert http.get("/user").json() == {"login": CN}
    without = sign_in(server, "/ui/signin")
    assert without.status_code == 200  # no certificate: the sign-in page, no session
    assert COOKIE not in without.cookies
