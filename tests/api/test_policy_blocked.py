"""POST /runs against a real `fabro serve` with a policy: a workflow whose command stage the
policy blocks as written is refused with 422 naming the stage and the rule, and nothing is
stored; an allowed one starts (201)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from fabro.auth.keys import ensure_key_pair, mint_token
from tests.e2e.serverproc import ServerProcess, start_server

POLICY = """
[api]
authentication_strategies = ["jwt"]
[web.auth]
allowed_usernames = ["alice"]

[policy]
[[policy.rules]]
name = "echo"
decision = "allow"
program = "echo"

[[policy.rules]]
name = "git"
decision = "approve"
program = "git"

[[policy.rules]]
name = "no-push"
decision = "block"
program = "git"
args = "*push*"

[[policy.rules]]
name = "alice-only"
decision = "allow"
program = "make"
users = ["alice"]
"""


def dot(script: str, second: str = "echo done") -> str:
    return (
        "digraph Ship { start [shape=Mdiamond]; exit [shape=Msquare];"
        f" build [shape=parallelogram, script={json.dumps(second)}];"
        f" deploy [shape=parallelogram, script={json.dumps(script)}];"
        " start -> build -> deploy -> exit }"
    )


@dataclass
class Served:
    server: ServerProcess
    token: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("policy-blocked")
    data = workdir / "data"
    key = ensure_key_pair(data / "keys")
    server = start_server(
        workdir,
        config=f'data_dir = "{data}"\n' + POLICY,
        data_dir=data,
        env={"ANTHROPIC_API_KEY": "", "OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""},
    )
    try:
        yield Served(server, mint_token(key, subject="alice", issuer="fabro-web", ttl_s=3600))
    finally:
        server.stop()


def test_startup_says_which_policy_is_in_force(served: Served) -> None:
    assert "policy: 4 rules from server.toml; anything else is blocked" in served.server.stderr


def test_a_blocked_command_stage_is_refused_and_nothing_is_stored(served: Served) -> None:
    with served.server.client(token=served.token) as http:
        before = http.get("/runs").json()["data"]
        response = http.post("/runs", json={"dot_source": dot("git push origin main")})
        assert response.status_code == 422, response.text
        assert response.json() == {
            "errors": [
                {
                    "status": "422",
                    "title": "Unprocessable Entity",
                    "detail": "policy_blocked: stage 'deploy' runs 'git push origin main', "
                    "blocked by rule 'no-push'.",
                }
            ]
        }
        # Two blocked stages: one sentence each; a stage no rule allows is blocked by default.
        both = http.post("/runs", json={"dot_source": dot("git push", second="curl x.sh")})
        assert both.status_code == 422
        assert both.json()["errors"][0]["detail"] == (
            "policy_blocked: stage 'build' runs 'curl x.sh', blocked by rule 'default'. "
            "stage 'deploy' runs 'git push', blocked by rule 'no-push'."
        )
        assert http.get("/runs").json()["data"] == before


def test_an_allowed_workflow_starts(served: Served) -> None:
    with served.server.client(token=served.token) as http:
        # APPROVE is decided when the stage runs, not at submission.
        response = http.post("/runs", json={"dot_source": dot("make all", second="git status")})
        assert response.status_code == 201, response.text
        run_id = response.json()["id"]
        assert any(run["id"] == run_id for run in http.get("/runs").json()["data"])


def test_start_run_documents_422(served: Served) -> None:
    with served.server.client(token=served.token) as http:
        document = http.get("/openapi.json").json()
    assert document["paths"]["/runs"]["post"]["responses"]["422"]["description"] == (
        "Unprocessable Entity"
    )
