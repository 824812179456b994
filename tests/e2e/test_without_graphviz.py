"""Without Graphviz on the PATH, fabro still serves and runs; only drawing says it cannot.

The route answers 502 in the error envelope (api.md §6.11) and `fabro graph` exits 1 with one
line (cli.md §4). Both run as real processes whose PATH holds no `dot`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.e2e.banner import banner_token
from tests.e2e.conftest import StartServer
from tests.e2e.serverproc import REPO_ROOT, base_env

WORKFLOW = (REPO_ROOT / "tests" / "fixtures" / "workflows" / "linear.dot").read_text("utf-8")
NO_DOT = "Graphviz dot command not available."


def test_the_graph_route_answers_502_without_dot(fabro_server: StartServer, tmp_path: Path) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    server = fabro_server(workdir=tmp_path / "server", env={"PATH": str(empty)})
    with server.client(token=banner_token(server)) as http:
        created = http.post("/runs", json={"dot_source": WORKFLOW})
        assert created.status_code == 201, created.text
        for fmt in ("svg", "png"):
            answer = http.get(f"/runs/{created.json()['id']}/graph", params={"format": fmt})
            assert answer.status_code == 502
            assert answer.headers["content-type"].startswith("application/json")
            assert answer.json() == {
                "errors": [{"status": "502", "title": "Bad Gateway", "detail": NO_DOT}]
            }
        assert http.get("/runs").status_code == 200  # everything else still works


def test_fabro_graph_says_so_in_one_line_without_dot(tmp_path: Path) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    (tmp_path / "linear.dot").write_text(WORKFLOW, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "fabro", "graph", "linear.dot"],
        cwd=tmp_path,
        env=base_env(tmp_path, {"PATH": str(empty), "PYTHONPATH": str(REPO_ROOT)}),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == b""
    assert done.stderr.decode().splitlines()[-1:] == [f"error: {NO_DOT}"]
