"""`fabro audit` as a real process against a real `fabro serve`: the log as a table newest
first, its filters, JSON, and `--verify`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.cli_server import CliServer, cli_server

QUICK = "digraph Quick { start [shape=Mdiamond]; exit [shape=Msquare]; start -> exit }"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliServer]:
    with cli_server(tmp_path_factory.mktemp("audit-cli"), "audit") as served:
        with served.server.client(token=served.token) as http:
            assert http.post("/runs", json={"dot_source": QUICK}).status_code == 201
        with httpx.Client(base_url=served.server.url) as anonymous:
            assert anonymous.post("/runs", json={"dot_source": QUICK}).status_code == 401
        deadline = time.monotonic() + 10
        while len(json.loads(served.fabro("--json").stdout or "[]")) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        yield served


def test_the_log_is_a_table_newest_first(served: CliServer) -> None:
    listed = served.fabro()
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == [
        "AT", "PRINCIPAL", "ROLE", "ACTION", "STATUS", "RESULT", "CLIENT", "TARGET",
    ]  # fmt: skip
    assert lines[1].split()[1:6] == ["-", "-", "startRun", "401", "refused"]
    assert lines[2].split()[1:6] == ["alice", "admin", "startRun", "201", "ok"]


def test_filters_and_json(served: CliServer) -> None:
    mine = json.loads(served.fabro("--principal", "alice", "--json").stdout)
    assert [(r["action"], r["status"]) for r in mine] == [("startRun", 201)]
    refused = json.loads(served.fabro("--result", "refused", "--json").stdout)
    assert [r["principal"] for r in refused] == [None]
    assert json.loads(served.fabro("--since", "2999-01-01T00:00:00Z", "--json").stdout) == []
    assert len(json.loads(served.fabro("--limit", "1", "--json").stdout)) == 1
    bad = served.fabro("--since", "yesterday")
    assert bad.returncode != 0 and "since" in bad.stderr


def test_verify_checks_the_chain(served: CliServer) -> None:
    checked = served.fabro("--verify")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("ok: ") and "records intact" in checked.stdout
    report = json.loads(served.fabro("--verify", "--json").stdout)
    assert report["ok"] is True and report["entries_checked"] >= 2
