"""`fabro run` is your own run: its programs see your environment, less what holds a secret."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.e2e.serverproc import REPO_ROOT, base_env

FLOW = """digraph Env {
  start [shape=Mdiamond]
  show [shape=parallelogram, script="env > %s"]
  exit [shape=Msquare]
  start -> show -> exit
}
"""


def test_programs_inherit_the_users_environment_without_secrets(tmp_path: Path) -> None:
    seen = tmp_path / "env.txt"
    flow = tmp_path / "env.dot"
    flow.write_text(FLOW % seen, encoding="utf-8")
    env = {
        **base_env(tmp_path),
        "KUBECONFIG": "/home/me/.kube/config",
        "DEPLOY_TOKEN": "t0ken-value-long-enough",
    }
    done = subprocess.run(
        [sys.executable, "-m", "fabro", "run", str(flow), "--data-dir", str(tmp_path / "d")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    names = {line.split("=", 1)[0] for line in seen.read_text().splitlines()}
    assert "KUBECONFIG" in names
    assert "DEPLOY_TOKEN" not in names
