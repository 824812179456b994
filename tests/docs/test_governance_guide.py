"""docs/governance.md: the worked policy decides the actions the guide says it does, and every
TOML block of the guide loads as a server.toml."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fabro.config import load_settings
from fabro.governance.actions import Action, Subject
from fabro.governance.describe import command_action, file_action, network_action, shell_action
from fabro.governance.policy import Policy

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "governance.md"
WORK = "/srv/fabro/runs/r1/work"
SUBJECT = Subject(run_id="r1", workflow=None, user="alice", work_dir=WORK)


def toml_blocks() -> list[str]:
    return re.findall(r"^```toml\n(.*?)^```$", GUIDE.read_text(encoding="utf-8"), re.S | re.M)


def worked_policy(tmp_path: Path) -> Policy:
    [block] = [b for b in toml_blocks() if 'name = "no-curl"' in b]
    config = tmp_path / "server.toml"
    config.write_text(block, encoding="utf-8")
    return Policy.of(load_settings(config, env={}).settings.governance.policy)


@pytest.mark.parametrize(
    ("action", "verdict", "rule"),
    [
        (command_action("pytest -q", "shell"), "ALLOW", "tests"),
        (shell_action("git push origin main"), "BLOCK", "no-push"),
        (shell_action("git status"), "ALLOW", "git"),
        (command_action("rm build/out.txt", "shell"), "ALLOW", "delete-inside-only"),
        (shell_action("rm -rf /etc"), "APPROVE", "default"),
        (file_action("file_write", f"{WORK}/notes.md"), "ALLOW", "edit-inside"),
        (file_action("file_write", "/etc/hosts"), "APPROVE", "default"),
        (file_action("file_read", f"{WORK}/src/app.py"), "ALLOW", "read-inside"),
        (network_action("https://example.com/"), "APPROVE", "default"),
        (shell_action("make build; git push"), "BLOCK", "no-push"),
        (shell_action("curl https://example.com"), "BLOCK", "no-curl"),
        (shell_action("make deploy"), "APPROVE", "default"),
    ],
    ids=lambda value: value.text if isinstance(value, Action) else str(value),
)
def test_the_worked_policy_decides_as_the_guide_says(
    tmp_path: Path, action: Action, verdict: str, rule: str
) -> None:
    decision = worked_policy(tmp_path).decide(action, SUBJECT)
    assert (decision.verdict.name, decision.rule) == (verdict, rule)


def test_every_toml_block_of_the_guide_loads(tmp_path: Path) -> None:
    blocks = toml_blocks()
    assert len(blocks) >= 4
    for number, block in enumerate(blocks):
        config = tmp_path / f"server{number}.toml"
        # The rules example names a policy file: give it one.
        (tmp_path / "policy.toml").write_text("", encoding="utf-8")
        config.write_text(block, encoding="utf-8")
        load_settings(config, env={})
