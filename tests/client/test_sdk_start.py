"""`start_run(file=...)` reads a local workflow as `fabro runs start FILE` does, against a real
`fabro serve`: a prompt written as `@prompt.md` reaches the server inlined, and a .toml run
configuration gives its goal, vars and labels (the arguments win)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fabro.client import FabroClient
from fabro.workflow.errors import WorkflowSourceError

FLOW = """digraph Flow {
  graph [goal="@goal.md"]
  start [shape=Mdiamond]
  work [shape=box, prompt="@prompt.md"]
  exit [shape=Msquare]
  start -> work -> exit
}"""
PROMPT = 'Write a haiku about "files" for $who'
RUN_TOML = """graph = "flow.dot"
goal = "Ship the haiku"
colour = "blue"
[vars]
who = "everyone"
[labels]
team = "poets"
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "flow.dot").write_text(FLOW, encoding="utf-8")
    (tmp_path / "prompt.md").write_text(PROMPT, encoding="utf-8")
    (tmp_path / "goal.md").write_text("A haiku", encoding="utf-8")
    (tmp_path / "run.toml").write_text(RUN_TOML, encoding="utf-8")
    return tmp_path


def test_a_files_prompt_reference_is_inlined(fabro: FabroClient, folder: Path) -> None:
    run = fabro.start_run(file=folder / "flow.dot", vars={"who": "you"})
    ended = fabro.wait_for_run(run.id, timeout=30)
    assert (ended.status, ended.goal) == ("completed", "A haiku")
    prompt = fabro.get_artifact(run.id, "work", "prompt.md").decode()
    assert 'Write a haiku about "files" for you' in prompt  # the file's text, $who expanded


def test_a_run_configuration_gives_goal_vars_and_labels(fabro: FabroClient, folder: Path) -> None:
    with pytest.warns(UserWarning, match="unsupported run configuration key 'colour'"):
        run = fabro.start_run(file=str(folder / "run.toml"), labels={"stage": "draft"})
    configuration = fabro.get_configuration(run.id)
    assert configuration.goal == "Ship the haiku" and configuration.vars == {"who": "everyone"}
    assert fabro.get_run(run.id).labels == {"team": "poets", "stage": "draft"}
    with pytest.warns(UserWarning):
        overridden = fabro.start_run(file=folder / "run.toml", goal="Other", vars={"who": "me"})
    assert fabro.get_configuration(overridden.id).goal == "Other"
    assert fabro.get_configuration(overridden.id).vars == {"who": "me"}
    fabro.cancel_runs([run.id, overridden.id])


def test_what_the_cli_refuses_is_refused_before_sending(fabro: FabroClient, folder: Path) -> None:
    with pytest.raises(WorkflowSourceError, match="Workflow not found"):
        fabro.start_run(file=folder / "missing.dot")
    (folder / "flow.txt").write_text(FLOW, encoding="utf-8")
    with pytest.raises(WorkflowSourceError, match="Unsupported workflow file"):
        fabro.start_run(file=folder / "flow.txt")
    with pytest.raises(ValueError, match="one of"):
        fabro.start_run(FLOW, file=folder / "flow.dot")
