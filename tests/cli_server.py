"""A real `fabro serve` for the tests of one `fabro` command group, run as real processes
(`python -m fabro <group> ...`) with the server and a token in their environment."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fabro.auth.keys import ensure_key_pair, mint_token
from tests.e2e.serverproc import REPO_ROOT, ServerProcess, base_env, start_server

# JWT only, for one user: the tests act as alice.
CONFIG = """\
[api]
authentication_strategies = ["jwt"]
[web.auth]
allowed_usernames = ["alice"]
"""


@dataclass
class CliServer:
    server: ServerProcess
    token: str  # alice's
    group: str  # the command group the tests run, e.g. "webhooks"

    @property
    def data(self) -> Path:
        return self.server.workdir / "data"

    def fabro(
        self, *args: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`fabro <group> *args` as a process; its exit status and output."""
        variables = {"FABRO_SERVER": self.server.url, "FABRO_TOKEN": self.token, **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "fabro", self.group, *args],
            cwd=REPO_ROOT, env=base_env(self.server.workdir / "home", variables),
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip


@contextmanager
def cli_server(
    workdir: Path, group: str, env: Mapping[str, str] | None = None
) -> Iterator[CliServer]:
    """A server in ``workdir`` (its data in ``workdir/data``) for `fabro <group>`, stopped
    on exit."""
    key = ensure_key_pair(workdir / "data" / "keys")
    server = start_server(workdir, config=CONFIG, env=env)
    try:
        yield CliServer(
            server, mint_token(key, subject="alice", issuer="fabro-web", ttl_s=3600), group
        )
    finally:
        server.stop()
