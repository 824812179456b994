"""The check at submission: a workflow whose command stages the policy blocks as written is
refused before it is stored (POST /runs and the UI's new-run form answer 422).

An APPROVE or ALERT is not a reason to refuse: those are decided when the stage runs. Only
command stages are read here; what an agent will do is not known until it does it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from fabro.governance.actions import Subject, Verdict
from fabro.governance.describe import command_action
from fabro.governance.policy import Policy
from fabro.workflow import kinds
from fabro.workflow.model import Graph

# The run id is not known before the run is stored; its working directory is decided the
# same way for every run, so relative paths and {work_dir} resolve alike.
SUBMITTED_RUN: Final = "(new run)"
_SHOWN_SCRIPT: Final = 200  # characters of a script quoted in the refusal


def submission_work_dir(data_dir: Path, config: Mapping[str, Any]) -> str:
    """The working directory the run will have (engine/lifecycle.py prepare_dirs), without
    touching the filesystem."""
    folder = data_dir / "runs" / SUBMITTED_RUN
    directory = config.get("directory")
    if not directory:
        return str(folder / "work")
    path = Path(str(directory)).expanduser()
    if not path.is_absolute():
        workflow_dir = config.get("workflow_dir")
        path = (Path(str(workflow_dir)) if workflow_dir else folder) / path
    return os.path.normpath(path)


def blocked_stages(graph: Graph, policy: Policy, subject: Subject) -> list[tuple[str, str]]:
    """(node id, rule) of each command stage whose script the policy blocks as written."""
    if not policy.configured:
        return []
    blocked: list[tuple[str, str]] = []
    for node in graph.nodes.values():
        if node.kind != kinds.COMMAND:
            continue
        script = (node.script or "").strip()
        if not script:
            continue  # validation reports it; the stage fails without running anything
        decision = policy.decide(command_action(script, node.language), subject)
        if decision.verdict is Verdict.BLOCK:
            blocked.append((node.id, decision.rule))
    return blocked


def blocked_detail(graph: Graph, blocked: list[tuple[str, str]]) -> str:
    """`policy_blocked: stage 'deploy' runs 'git push origin main', blocked by rule 'no-push'.`
    (one sentence per stage)."""
    sentences = []
    for node_id, rule in blocked:
        script = (graph.nodes[node_id].script or "").strip()
        if len(script) > _SHOWN_SCRIPT:
            script = script[:_SHOWN_SCRIPT] + "..."
        sentences.append(f"stage '{node_id}' runs '{script}', blocked by rule '{rule}'.")
    return "policy_blocked: " + " ".join(sentences)
