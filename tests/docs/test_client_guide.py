"""docs/client.md: every Python block runs, in order, against a real `fabro serve`, with the
server and credentials found the way the guide says: FABRO_SERVER and FABRO_TOKEN for the
first four, and for the CI example a server that takes mutual TLS only, the certificate paths
in the job's environment and its workflow file in the working directory."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from fabro.auth.keys import ensure_key_pair, mint_token
from tests.client.mtls import mtls_server
from tests.e2e.serverproc import base_env, start_server

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "client.md"
CONFIG = '[api]\nauthentication_strategies = ["jwt"]\n[web.auth]\nallowed_usernames = ["alice"]\n'
RELEASE = """digraph Release {
  start [shape=Mdiamond]
  build [shape=parallelogram, script="echo built"]
  exit [shape=Msquare]
  start -> build -> exit
}"""


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", GUIDE.read_text(encoding="utf-8"), re.S | re.M)


def run_block(block: str, env: dict[str, str], cwd: Path) -> list[str]:
    ran = subprocess.run(
        [sys.executable, "-c", block],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, block + ran.stderr
    return ran.stdout.splitlines()


def test_the_guides_python_blocks_run(tmp_path: Path) -> None:
    *blocks, _ci = python_blocks()
    assert len(blocks) == 4
    key = ensure_key_pair(tmp_path / "data" / "keys")
    server = start_server(tmp_path, config=CONFIG)
    try:
        token = mint_token(key, subject="alice", issuer="fabro-web", ttl_s=600)
        env = base_env(tmp_path / "home", {"FABRO_SERVER": server.url, "FABRO_TOKEN": token})
        outputs = [run_block(block, env, tmp_path) for block in blocks]
    finally:
        server.stop()
    assert outputs[0] == ["alice"]
    assert outputs[1][-1] == "completed" and outputs[1][-2].endswith("WorkflowRunCompleted")
    assert outputs[2] == ["completed"]
    assert outputs[3] == ["2 completed runs"]


def test_the_ci_example_runs_over_mutual_tls(tmp_path: Path) -> None:
    ci = python_blocks()[-1]
    checkout = tmp_path / "checkout"
    (checkout / "flows").mkdir(parents=True)
    (checkout / "flows" / "release.dot").write_text(RELEASE, encoding="utf-8")
    server, pki = mtls_server(tmp_path)
    try:
        secrets = {"CI_CLIENT_CERT": str(pki.cert), "CI_CLIENT_KEY": str(pki.key)}
        secrets |= {"CI_CA_CERT": str(pki.ca), "GITHUB_SHA": "abc123"}
        env = base_env(tmp_path / "home", {"FABRO_SERVER": server.url, **secrets})
        assert run_block(ci, env, checkout) == ["completed"]
        with server.client(cert=pki.cert, key=pki.key) as http:
            [run] = http.get("/runs").json()["data"]
    finally:
        server.stop()
    assert run["labels"] == {"commit": "abc123"}
