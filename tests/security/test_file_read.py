"""Issue 13, finding 1: a request never makes the server read a file.

`@file` inlining belongs to workflow files on disk: it reads only files inside the workflow's
own folder (symlinks resolved first), and never for values that arrive in a request body. The
attacker holds a valid token and starts a real registry workflow of a real server with a goal,
vars or title that name the server's private key, `~`, `..` or a symlink leading out.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from fabro.auth.keys import PRIVATE_KEY_NAME
from tests.e2e.runs_support import jwt_server
from tests.e2e.serverproc import ServerProcess

SECRET = "SECRET-MARKER-7f3a"
TOKEN = "SECRETTOKEN7f3a"  # the first word of a file: what a parse error would quote
DOT = """digraph Probe {{
  graph [goal="{goal}"]
  start [shape=Mdiamond]
  work [shape=box, prompt="{prompt}"]
  exit [shape=Msquare]
  start -> work -> exit
}}
"""


@dataclass(frozen=True)
class Target:
    server: ServerProcess
    token: str
    data_dir: Path
    home: Path

    def post(self, body: dict[str, Any]) -> httpx.Response:
        with self.server.client(token=self.token) as http:
            return http.post("/runs", json=body)

    def get(self, path: str) -> httpx.Response:
        with self.server.client(token=self.token) as http:
            return http.get(path)


def _workflow(registry: Path, slug: str, goal: str, prompt: str = "Work") -> Path:
    folder = registry / slug
    folder.mkdir(parents=True)
    (folder / "workflow.dot").write_text(DOT.format(goal=goal, prompt=prompt), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    base = tmp_path_factory.mktemp("file_read")
    data_dir = base / "data"
    registry = data_dir / "workflows"
    (base / "outside.md").write_text(f"outside {SECRET}", encoding="utf-8")
    probe = _workflow(registry, "probe", "Probe the server")
    (probe / "prompt.md").write_text("A legitimate prompt", encoding="utf-8")
    (probe / "leak.md").symlink_to(base / "outside.md")
    _workflow(registry, "via_symlink", "@leak.md")
    (registry / "via_symlink" / "leak.md").symlink_to(base / "outside.md")
    _workflow(registry, "via_parent", "@../../../outside.md")
    _workflow(registry, "via_prompt_symlink", "Fine", prompt="@leak.md")
    (registry / "via_prompt_symlink" / "leak.md").symlink_to(base / "outside.md")
    legit = _workflow(registry, "legit", "@goal.md", prompt="@prompts/work.md")
    (legit / "goal.md").write_text("Goal read from the workflow folder", encoding="utf-8")
    (legit / "prompts").mkdir()
    (legit / "prompts" / "work.md").write_text("Prompt from the folder", encoding="utf-8")
    configured = _workflow(registry, "configured", "Graph goal")
    (configured / "workflow.toml").write_text('goal = "@goal.md"\n', encoding="utf-8")
    (configured / "goal.md").write_text("Goal of workflow.toml", encoding="utf-8")
    (base / "elsewhere.dot").write_text(f"{TOKEN} [x=1]\n", encoding="utf-8")
    server, token = jwt_server(None, base / "server", data_dir)
    home = base / "server" / "home"  # the server's HOME (tests/e2e/serverproc.py)
    (home / "secret.md").write_text(f"home {SECRET}", encoding="utf-8")
    (home / "x.dot").write_text(f"{TOKEN} [x=1]\n", encoding="utf-8")
    try:
        yield Target(server, token, data_dir, home)
    finally:
        server.stop()


def _leaks(target: Target, response: httpx.Response) -> list[str]:
    """Every text the attacker can read back that holds a secret: the answer, then the run."""
    key_text = (target.data_dir / "keys" / PRIVATE_KEY_NAME).read_text(encoding="utf-8")
    texts = [response.text]
    if response.status_code in (200, 201):
        run_id = response.json()["id"]
        texts.append(target.get(f"/runs/{run_id}").text)
        texts.append(target.get(f"/runs/{run_id}/configuration").text)
    return [
        text[:300]
        for text in texts
        if SECRET in text or "PRIVATE KEY" in text or key_text.strip() in text
    ]


def _attacks(target: Target) -> list[dict[str, Any]]:
    key = target.data_dir / "keys" / PRIVATE_KEY_NAME
    paths = [f"@{key}", "@~/secret.md", "@../../../outside.md", "@leak.md", "@ leak.md"]
    bodies: list[dict[str, Any]] = []
    for path in paths:
        bodies.append({"workflow": "probe", "goal": path})
        bodies.append({"workflow": "probe", "goal": path, "title": path})
        bodies.append({"workflow": "probe", "goal": "$x", "vars": {"x": path}})
        bodies.append({"workflow": "probe", "labels": {"x": path}})
    return bodies


def test_request_values_never_read_a_file(target: Target) -> None:
    for body in _attacks(target):
        response = target.post(body)
        assert not _leaks(target, response), (body, response.status_code)
        if "goal" in body:
            # The reference stays as written and validation reports it (or it is plain text).
            assert response.status_code in (201, 400), response.text
        if response.status_code == 400:
            error = response.json()["errors"][0]
            assert error["status"] == "400", error


def test_goal_naming_a_file_is_reported_unresolved(target: Target) -> None:
    response = target.post({"workflow": "probe", "goal": "@prompt.md"})
    assert response.status_code == 400, response.text
    detail = response.json()["errors"][0]["detail"]
    assert detail == "Validation error: Graph goal has unresolved file reference: @prompt.md"
    assert "A legitimate prompt" not in response.text


@pytest.mark.parametrize("slug", ["via_symlink", "via_parent", "via_prompt_symlink"])
def test_workflow_files_cannot_reach_outside_their_folder(target: Target, slug: str) -> None:
    response = target.post({"workflow": slug})
    assert response.status_code == 400, response.text
    assert "unresolved file reference" in response.json()["errors"][0]["detail"]
    assert not _leaks(target, response)


def test_references_inside_the_folder_still_work(target: Target) -> None:
    # Accepted at all means `@prompts/work.md` was inlined (else: unresolved_file_ref, 400).
    response = target.post({"workflow": "legit"})
    assert response.status_code == 201, response.text
    assert response.json()["goal"] == "Goal read from the workflow folder"
    configured = target.post({"workflow": "configured"})
    assert configured.status_code == 201, configured.text
    assert configured.json()["goal"] == "Goal of workflow.toml"


def test_a_request_goal_is_plain_text_even_for_a_folder_workflow(target: Target) -> None:
    response = target.post({"workflow": "legit", "goal": "Ship it, then write $who a note"})
    assert response.status_code == 400  # $who undefined: the goal is expanded, not read
    response = target.post(
        {"workflow": "legit", "goal": "Ship it for $who", "vars": {"who": "@goal.md"}}
    )
    assert response.status_code == 201, response.text
    assert json.loads(response.text)["goal"] == "Ship it for @goal.md"


def _wait_finished(target: Target, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        run: dict[str, Any] = target.get(f"/runs/{run_id}").json()
        if run["status"] in ("completed", "failed", "cancelled"):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish")


@pytest.mark.parametrize("where", ["{base}/elsewhere.dot", "../../../../elsewhere.dot", "~/x.dot"])
def test_a_child_workflow_file_stays_inside_the_folder(target: Target, where: str) -> None:
    # `stack.child_dotfile` of a submitted graph: relative to the run's working directory, and
    # never a way to read (or run) a file from elsewhere.
    child = where.format(base=target.data_dir.parent)
    dot = (
        "digraph M {\n  start [shape=Mdiamond]\n  exit [shape=Msquare]\n"
        f'  mgr [shape=house, stack.child_dotfile="{child}", manager.poll_interval="10ms"]\n'
        "  start -> mgr -> exit\n}"
    )
    response = target.post({"dot_source": dot})
    assert response.status_code == 201, response.text
    run_id = response.json()["id"]
    _wait_finished(target, run_id)
    retro = target.get(f"/runs/{run_id}/retro").text
    assert "Failed to parse child pipeline" in retro, retro
    assert TOKEN not in retro and TOKEN not in target.get(f"/runs/{run_id}").text
