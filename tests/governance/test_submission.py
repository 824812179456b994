"""The submission check: command stages blocked as written, and where their paths resolve."""

from __future__ import annotations

from pathlib import Path

from fabro.governance.actions import Subject
from fabro.governance.policy import Policy
from fabro.governance.rules import compile_rule
from fabro.governance.submission import (
    blocked_detail,
    blocked_stages,
    submission_work_dir,
)
from fabro.workflow.model import Graph
from fabro.workflow.prepare import prepare

POLICY = Policy(
    [
        compile_rule({"name": "echo", "decision": "allow", "program": "echo"}),
        compile_rule({"name": "look", "decision": "approve", "program": "git"}),
        compile_rule({"name": "no-push", "decision": "block", "program": "git", "args": "push*"}),
        compile_rule(
            {"name": "rm", "decision": "allow", "program": "rm", "paths": ["{work_dir}/**"]}
        ),
    ]
)
SUBJECT = Subject(run_id="", workflow=None, user="alice", work_dir="/data/runs/(new run)/work")


def graph(stages: str) -> Graph:
    source = f"digraph G {{ start [shape=Mdiamond]; exit [shape=Msquare]; {stages} }}"
    prepared = prepare(source, vars={"remote": "origin"})
    return prepared.graph


def test_only_command_stages_blocked_as_written_are_named() -> None:
    g = graph(
        'a [shape=parallelogram, script="echo hi"];'
        ' b [shape=parallelogram, script="git push $remote main"];'
        ' c [shape=parallelogram, script="git status"];'  # APPROVE: decided when it runs
        ' d [type=command, script="rm -rf /etc"];'
        ' e [shape=parallelogram, language=python, script="print(1)"];'
        ' f [shape=box, prompt="git push"];'  # an agent: what it does is known when it does it
        " start -> a -> b -> c -> d -> e -> f -> exit"
    )
    blocked = blocked_stages(g, POLICY, SUBJECT)
    assert blocked == [("b", "no-push"), ("d", "default"), ("e", "default")]
    assert blocked_detail(g, blocked[:1]) == (
        "policy_blocked: stage 'b' runs 'git push origin main', blocked by rule 'no-push'."
    )
    assert blocked_stages(g, Policy([], configured=False), SUBJECT) == []


def test_the_work_dir_is_the_one_the_run_will_have(tmp_path: Path) -> None:
    assert submission_work_dir(tmp_path, {}) == str(tmp_path / "runs" / "(new run)" / "work")
    config = {"directory": "checkout", "workflow_dir": "/srv/flows/ship"}
    assert submission_work_dir(tmp_path, config) == "/srv/flows/ship/checkout"
    assert submission_work_dir(tmp_path, {"directory": "/abs/dir/"}) == "/abs/dir"
    g = graph('r [shape=parallelogram, script="rm -rf build"]; start -> r -> exit')
    subject = Subject("", None, "alice", submission_work_dir(tmp_path, {}))
    assert blocked_stages(g, POLICY, subject) == []
