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


def test_a_stage_gets_the_secrets_it_names_from_your_environment_redacted(
    tmp_path: Path,
) -> None:
    seen = tmp_path / "seen.txt"
    flow = tmp_path / "secret.dot"
    flow.write_text(
        FLOW.replace(
            'script="env > %s"',
            'secrets="PLAIN_NAME", script="echo $PLAIN_NAME > %s; echo $PLAIN_NAME"',
        )
        % seen,
        encoding="utf-8",
    )
    value = "s3cret-value-from-my-shell"
    env = {**base_env(tmp_path), "PLAIN_NAME": value}
    data = tmp_path / "d"
    done = subprocess.run(
        [sys.executable, "-m", "fabro", "run", str(flow), "--data-dir", str(data), "-v"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert seen.read_text().strip() == value  # the program got it
    assert value not in done.stdout + done.stderr  # the display did not
    for path in data.rglob("*"):
        if path.is_file():
            assert value.encode() not in path.read_bytes(), path
