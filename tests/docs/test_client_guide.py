"""docs/client.md: every Python block runs, in order, against a real `fabro serve`, with the
server and token found the way the guide says (FABRO_SERVER, FABRO_TOKEN)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from fabro.auth.keys import ensure_key_pair, mint_token
from tests.e2e.serverproc import base_env, start_server

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "client.md"
CONFIG = '[api]\nauthentication_strategies = ["jwt"]\n[web.auth]\nallowed_usernames = ["alice"]\n'


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", GUIDE.read_text(encoding="utf-8"), re.S | re.M)


def test_the_guides_python_blocks_run(tmp_path: Path) -> None:
    blocks = python_blocks()
    assert len(blocks) == 4
    key = ensure_key_pair(tmp_path / "data" / "keys")
    server = start_server(tmp_path, config=CONFIG)
    try:
        token = mint_token(key, subject="alice", issuer="fabro-web", ttl_s=600)
        env = base_env(tmp_path / "home", {"FABRO_SERVER": server.url, "FABRO_TOKEN": token})
        outputs = []
        for block in blocks:
            ran = subprocess.run(
                [sys.executable, "-c", block],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert ran.returncode == 0, block + ran.stderr
            outputs.append(ran.stdout.splitlines())
    finally:
        server.stop()
    assert outputs[0] == ["alice"]
    assert outputs[1][-1] == "completed" and outputs[1][-2].endswith("WorkflowRunCompleted")
    assert outputs[2] == ["completed"]
    assert outputs[3] == ["2 completed runs"]
