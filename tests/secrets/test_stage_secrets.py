"""Stages receive the secrets they name, through the real engine and real subprocesses: a
command stage and an agent's shell tool see them as environment variables (the graph's and
their own, and nothing else), their output is redacted, and a secret that is not set fails
the stage with its name before anything runs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fabro.engine.lifecycle import Lifecycle
from fabro.events.redact import REDACTED, Redactor
from fabro.llm.provider import LlmRequest, LlmResponse, OnRetry, ToolCall
from fabro.secrets.source import FixedSecrets
from fabro.storage.db import Database
from fabro.storage.sqlite_store import SqliteStore
from tests.engine.harness import Harness

SECRETS = {"DB_PASSWORD": "correct-horse-battery", "API_TOKEN": "tok-0123456789abcdef"}


def command_flow(script: str, node_secrets: str, graph_secrets: str = "") -> str:
    graph = f"graph [secrets={json.dumps(graph_secrets)}]\n" if graph_secrets else ""
    return f"""
digraph S {{
  {graph}start [shape=Mdiamond]
  deploy [shape=parallelogram, script={json.dumps(script)}, secrets={json.dumps(node_secrets)}]
  exit [shape=Msquare]
  start -> deploy -> exit
}}
"""


class RedactingHarness(Harness):
    """The engine harness with the server's redactor: every secret's value."""

    redactor = Redactor(SECRETS.values())

    @property
    def lifecycle(self) -> Lifecycle:
        return Lifecycle(SqliteStore(self.db), self.published.append, self.redactor, self.data_dir)


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    db = await Database.open(tmp_path / "local.db")
    yield RedactingHarness(db=db, data_dir=tmp_path)
    await db.close()


async def test_a_command_stage_gets_the_secrets_it_and_the_graph_name(harness: Harness) -> None:
    script = 'printf "%s|%s|%s" "$DB_PASSWORD" "$API_TOKEN" "${OTHER:-none}" > seen.txt'
    deps = harness.deps()
    deps.secrets = FixedSecrets({**SECRETS, "OTHER": "not-named-by-anyone"})
    run, result = await harness.run(command_flow(script, "DB_PASSWORD", "API_TOKEN"), deps=deps)
    assert result.status == "completed", result.error
    seen = (harness.lifecycle.run_dir(run.id) / "work" / "seen.txt").read_text()
    assert seen == f"{SECRETS['DB_PASSWORD']}|{SECRETS['API_TOKEN']}|none"


async def test_a_missing_secret_fails_the_stage_before_anything_runs(harness: Harness) -> None:
    deps = harness.deps()
    deps.secrets = FixedSecrets({"DB_PASSWORD": SECRETS["DB_PASSWORD"]})
    run, _ = await harness.run(command_flow("touch ran", "DB_PASSWORD, API_TOKEN"), deps=deps)
    assert not (harness.lifecycle.run_dir(run.id) / "work" / "ran").exists()
    outcome = (await harness.checkpoint(run.id))["node_outcomes"]["deploy"]
    assert outcome["status"] == "fail", outcome
    assert "Secret 'API_TOKEN' is not set (stage 'deploy' needs it)." in json.dumps(outcome)
    assert await harness.of(run.id, "PolicyDecision") == []
    assert not (harness.lifecycle.run_dir(run.id) / "nodes" / "deploy" / "stdout.log").exists()


async def test_without_a_vault_every_named_secret_is_missing(harness: Harness) -> None:
    run, _ = await harness.run(command_flow("true", "DB_PASSWORD"))
    outcome = (await harness.checkpoint(run.id))["node_outcomes"]["deploy"]
    assert "Secret 'DB_PASSWORD' is not set (stage 'deploy' needs it)." in json.dumps(outcome)


class EchoingAgent:
    """A model that runs `echo $DB_PASSWORD` in the shell, then repeats what it read."""

    def __init__(self) -> None:
        self.tool_results: list[str] = []

    @property
    def simulated(self) -> bool:
        return False

    async def complete(self, request: LlmRequest, on_retry: OnRetry | None = None) -> LlmResponse:
        answered = [m for m in request.messages if m.role == "tool"]
        if not answered:
            call = ToolCall("c1", "shell", {"command": "echo pw=$DB_PASSWORD"})
            return LlmResponse(text="", model=request.model, tool_calls=(call,))
        self.tool_results = [m.text for m in answered]
        return LlmResponse(text=f"It was {SECRETS['DB_PASSWORD']}.", model=request.model)


AGENT_FLOW = """
digraph A {
  start [shape=Mdiamond]
  act [prompt="Act", llm_model="claude-sonnet-4-5", secrets="DB_PASSWORD"]
  exit [shape=Msquare]
  start -> act -> exit
}"""


async def test_an_agents_shell_gets_its_secrets_and_nothing_shows_them(harness: Harness) -> None:
    agent = EchoingAgent()
    deps = harness.deps(llm=agent)
    deps.secrets = FixedSecrets(SECRETS)
    run, result = await harness.run(AGENT_FLOW, deps=deps)
    assert result.status == "completed", result.error
    # The program saw the value; the model read it redacted (tool results are cleaned).
    assert agent.tool_results and f"pw={REDACTED}" in agent.tool_results[0]
    events = json.dumps(await harness.events(run.id))
    assert "exit_code: 0" in events and SECRETS["DB_PASSWORD"] not in events
