"""A real `fabro serve` that takes mutual TLS only, with certificates made by `fabro certs
init` (a CA, the server's, and the client `alice`'s)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from fabro.cli import cli
from tests.e2e.serverproc import ServerProcess, start_server


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path  # alice's client certificate
    key: Path


def mtls_server(workdir: Path) -> tuple[ServerProcess, Pki]:
    """A started server in ``workdir`` and the client files that reach it as `alice`."""
    pki = workdir / "certs"
    made = CliRunner().invoke(cli, ["certs", "init", "--dir", str(pki), "--client-cn", "alice"])
    assert made.exit_code == 0, made.output
    config = (
        '[api]\nauthentication_strategies = ["mtls"]\n'
        f'[api.tls]\ncert = "{pki / "server.crt"}"\nkey = "{pki / "server.key"}"\n'
        f'ca = "{pki / "ca.crt"}"\n[web.auth]\nallowed_usernames = ["alice"]\n'
    )
    proc = start_server(workdir / "tls", config=config, ca=pki / "ca.crt")
    return proc, Pki(pki / "ca.crt", pki / "client-alice.crt", pki / "client-alice.key")
