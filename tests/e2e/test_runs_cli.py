"""`fabro runs list|show|cancel|events|answer` against a real server (cli.md §6)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from fabro.auth.keys import ensure_key_pair, mint_token
from tests.e2e.conftest import StartServer
from tests.e2e.serverproc import REPO_ROOT, ServerProcess, base_env

GATED = (
    'digraph Gated { start [shape=Mdiamond]; approve [shape=hexagon, label="Ship it?"];'
    ' exit [shape=Msquare]; start -> approve; approve -> exit [label="[Y] Yes"];'
    ' approve -> exit [label="[N] No"] }'
)
SLOW = (
    'digraph Slow { start [shape=Mdiamond]; w [shape=parallelogram, script="sleep 30"];'
    " exit [shape=Msquare]; start -> w -> exit }"
)


def serve(fabro_server: StartServer, tmp_path: Path) -> tuple[ServerProcess, str]:
    data = tmp_path / "data"
    key = ensure_key_pair(data / "keys")
    config = (
        f'data_dir = "{data}"\n[api]\nauthentication_strategies = ["jwt"]\n'
        '[web.auth]\nallowed_usernames = ["alice"]\n'
    )
    server = fabro_server(config=config, data_dir=data)
    return server, mint_token(key, subject="alice", issuer="fabro-web", ttl_s=600)


def fabro(server: ServerProcess, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = base_env(server.workdir / "home", {"FABRO_SERVER": server.url, "FABRO_TOKEN": token})
    return subprocess.run(
        [sys.executable, "-m", "fabro", "runs", *args],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_runs_commands_end_to_end(fabro_server: StartServer, tmp_path: Path) -> None:
    server, token = serve(fabro_server, tmp_path)
    with server.client(token=token) as http:
        run_id = http.post("/runs", json={"dot_source": GATED}).json()["id"]
        slow_id = http.post("/runs", json={"dot_source": SLOW}).json()["id"]
        deadline = time.monotonic() + 20
        while not http.get(f"/runs/{run_id}/questions").json()["data"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)

    listing = fabro(server, token, "list")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "CREATED", "TITLE"]
    assert lines[1].startswith(slow_id) and lines[2].startswith(run_id)

    shown = fabro(server, token, "show", run_id)
    assert "status: running" in shown.stdout and "pending question: q-1 Ship it?" in shown.stdout

    answered = fabro(server, token, "answer", run_id, "q-1", "--key", "Y")
    assert answered.returncode == 0 and answered.stdout == "answered q-1\n"
    again = fabro(server, token, "answer", run_id, "q-1", "--key", "Y")
    assert again.returncode == 1
    assert (
        again.stderr == "error: 409 Conflict: Question no longer exists or was already answered.\n"
    )

    events = fabro(server, token, "events", run_id, "--json")
    assert events.returncode == 0, events.stderr
    frames = [json.loads(line) for line in events.stdout.splitlines()]
    assert [f["id"] for f in frames] == list(range(1, len(frames) + 1))
    assert "WorkflowRunCompleted" in frames[-1]["data"]
    text = fabro(server, token, "events", run_id, "--after", str(len(frames) - 1))
    assert text.stdout.startswith(f"{len(frames)} WorkflowRunCompleted {{")

    cancelled = fabro(server, token, "cancel", slow_id)
    assert cancelled.stdout == f"cancelled {slow_id}\n"
    missing = fabro(server, token, "show", "NOPE")
    assert missing.returncode == 1 and missing.stderr == "error: 404 Not Found: Run not found.\n"
    usage = fabro(server, token, "answer", run_id, "q-1")
    assert usage.returncode == 2


def test_connection_failure_is_one_line(tmp_path: Path) -> None:
    env = base_env(tmp_path, {"FABRO_SERVER": "http://127.0.0.1:9", "FABRO_TOKEN": "x"})
    result = subprocess.run(
        [sys.executable, "-m", "fabro", "runs", "list"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot connect to http://127.0.0.1:9: ")
    assert len(result.stderr.splitlines()) == 1
