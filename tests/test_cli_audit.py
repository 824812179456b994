"""`fabro audit` as a real process against a real `fabro serve`: the log as a table newest
first, its filters, JSON, and `--verify`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from fabro.auth.keys import ensure_key_pair, mint_token
from tests.e2e.serverproc import REPO_ROOT, ServerProcess, base_env, start_server

CONFIG = """\
[api]
authentication_strategies = ["jwt"]
[web.auth]
allowed_usernames = ["alice"]
"""
QUICK = "digraph Quick { start [shape=Mdiamond]; exit [shape=Msquare]; start -> exit }"


@dataclass
class Served:
    server: ServerProcess
    token: str

    def fabro(self, *args: str) -> subprocess.CompletedProcess[str]:
        variables = {"FABRO_SERVER": self.server.url, "FABRO_TOKEN": self.token}
        return subprocess.run(
            [sys.executable, "-m", "fabro", "audit", *args],
            cwd=REPO_ROOT, env=base_env(self.server.workdir / "home", variables),
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("audit-cli")
    key = ensure_key_pair(workdir / "data" / "keys")
    server = start_server(workdir, config=CONFIG)
    try:
        token = mint_token(key, subject="alice", issuer="fabro-web", ttl_s=3600)
        with server.client(token=token) as http:
            assert http.post("/runs", json={"dot_source": QUICK}).status_code == 201
        with httpx.Client(base_url=server.url) as anonymous:
            assert anonymous.post("/runs", json={"dot_source": QUICK}).status_code == 401
        served = Served(server, token)
        deadline = time.monotonic() + 10
        while len(json.loads(served.fabro("--json").stdout or "[]")) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        yield served
    finally:
        server.stop()


def test_the_log_is_a_table_newest_first(served: Served) -> None:
    listed = served.fabro()
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == [
        "AT", "PRINCIPAL", "ROLE", "ACTION", "STATUS", "RESULT", "CLIENT", "TARGET",
    ]  # fmt: skip
    assert lines[1].split()[1:6] == ["-", "-", "startRun", "401", "refused"]
    assert lines[2].split()[1:6] == ["alice", "admin", "startRun", "201", "ok"]


def test_filters_and_json(served: Served) -> None:
    mine = json.loads(served.fabro("--principal", "alice", "--json").stdout)
    assert [(r["action"], r["status"]) for r in mine] == [("startRun", 201)]
    refused = json.loads(served.fabro("--result", "refused", "--json").stdout)
    assert [r["principal"] for r in refused] == [None]
    assert json.loads(served.fabro("--since", "2999-01-01T00:00:00Z", "--json").stdout) == []
    assert len(json.loads(served.fabro("--limit", "1", "--json").stdout)) == 1
    bad = served.fabro("--since", "yesterday")
    assert bad.returncode != 0 and "since" in bad.stderr


def test_verify_checks_the_chain(served: Served) -> None:
    checked = served.fabro("--verify")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("ok: ") and "records intact" in checked.stdout
    report = json.loads(served.fabro("--verify", "--json").stdout)
    assert report["ok"] is True and report["entries_checked"] >= 2
