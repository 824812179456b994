"""A provider key kept as a secret takes effect without a restart (docs/secrets.md).

A real `fabro serve` starts with no provider key (simulated model) and its Anthropic base URL
on a local server speaking the Messages protocol. An admin sets ANTHROPIC_API_KEY as a secret:
the next run's model request goes to that server with the key. Deleted, the next run is
simulated again. The key never shows in the server's output.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.runs_support import server_toml, start_run, token_for, wait_for_status
from tests.e2e.serverproc import ServerProcess, start_server
from tests.llm import fake_providers as fp
from tests.llm.fake_providers import ANTHROPIC_PATH, FakeProviders, ThreadedFake

KEY = "sk-ant-from-a-secret-0123456789abcdef"
ASK = """digraph Ask {
  graph [goal="Greet", default_provider="anthropic"]
  start [shape=Mdiamond]
  ask [shape=tab, prompt="Say hello"]
  exit [shape=Msquare]
  start -> ask -> exit
}"""


@pytest.fixture
def fake() -> Iterator[FakeProviders]:
    with ThreadedFake() as server:
        yield server


@pytest.fixture
def served(tmp_path: Path, fake: FakeProviders) -> Iterator[tuple[ServerProcess, httpx.Client]]:
    data_dir = tmp_path / "data"
    token = token_for(data_dir)
    env = {"ANTHROPIC_API_KEY": "", "OPENAI_API_KEY": "", "ANTHROPIC_BASE_URL": fake.url}
    server = start_server(tmp_path / "server", config=server_toml(), data_dir=data_dir, env=env)
    try:
        with server.client(token=token) as http:
            yield server, http
    finally:
        server.stop()


def answer_of(http: httpx.Client, dot: str) -> str:
    """Run ``dot`` to its end; the stage's answer as the run's context holds it."""
    run_id = start_run(http, dot)
    assert wait_for_status(http, run_id, {"completed", "failed"})["status"] == "completed"
    context: str = http.get(f"/runs/{run_id}/context").text
    return context


def test_a_provider_key_set_or_deleted_as_a_secret_applies_to_the_next_run(
    served: tuple[ServerProcess, httpx.Client], fake: FakeProviders
) -> None:
    server, http = served
    assert "[Simulated] Response for stage: ask" in answer_of(http, ASK)
    assert fake.requests == []

    assert http.put("/secrets/ANTHROPIC_API_KEY", json={"value": KEY}).status_code == 201
    fake.anthropic(fp.anthropic("Hello from the real model."))
    assert "Hello from the real model." in answer_of(http, ASK)
    sent = fake.requests
    assert [request.path for request in sent] == [ANTHROPIC_PATH]
    assert sent[0].headers["x-api-key"] == KEY

    assert http.delete("/secrets/ANTHROPIC_API_KEY").status_code == 204
    assert "[Simulated] Response for stage: ask" in answer_of(http, ASK)
    assert len(fake.requests) == 1  # no request without a key

    server.stop()
    output = server.stdout_path.read_bytes() + server.stderr_path.read_bytes()
    assert b"No LLM provider configured" in output  # it did start simulated
    assert KEY.encode() not in output
