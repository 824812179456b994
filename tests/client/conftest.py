"""SDK fixtures: a real `fabro serve` on 127.0.0.1 per test module (JWT for `alice`, a
registry with one workflow, no provider key: the simulated backend answers model calls), a
token for it, and a FabroClient."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fabro.auth.keys import ensure_key_pair, mint_token
from fabro.client import FabroClient
from tests.e2e.serverproc import ServerProcess, start_server

CONFIG = """[api]
authentication_strategies = ["jwt"]
[web.auth]
allowed_usernames = ["alice"]
"""
NO_PROVIDER = {"ANTHROPIC_API_KEY": "", "OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""}
GATE = """digraph Gate {
  start [shape=Mdiamond]
  ask [shape=hexagon, label="Ship it?"]
  done [shape=parallelogram, script="echo shipped"]
  exit [shape=Msquare]
  start -> ask
  ask -> done [label="[Y] Yes"]
  ask -> exit [label="[N] No"]
  done -> exit
}"""


# A command stage that runs until cancelled.
SLOW = """digraph Slow {
  start [shape=Mdiamond]
  nap [shape=parallelogram, script="sleep 30"]
  exit [shape=Msquare]
  start -> nap -> exit
}"""
# One agent stage, answered by the simulated backend.
AGENT = """digraph Agent {
  start [shape=Mdiamond]
  work [shape=box, prompt="Write a haiku"]
  exit [shape=Msquare]
  start -> work -> exit
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("sdk")
    registry = workdir / "workflows" / "gate"
    registry.mkdir(parents=True)
    (registry / "workflow.dot").write_text(GATE, encoding="utf-8")
    ensure_key_pair(workdir / "data" / "keys")
    env = {**NO_PROVIDER, "FABRO_WORKFLOWS_DIR": str(workdir / "workflows")}
    proc = start_server(workdir, config=CONFIG, env=env)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def token(server: ServerProcess) -> str:
    key = ensure_key_pair(server.workdir / "data" / "keys")
    return mint_token(key, subject="alice", issuer="fabro-web", ttl_s=3600)


@pytest.fixture
def fabro(server: ServerProcess, token: str) -> Iterator[FabroClient]:
    with FabroClient(server.url, token=token, env={}) as client:
        yield client
