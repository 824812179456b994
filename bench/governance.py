"""The governance `scripts/bench engine` prices: a realistic policy of 20 rules, and a side
effect that passes a gate (a policy decision and a receipt) and runs nothing.

The action is described per stage, as the command handler does (``command_action`` reads the
script): that cost is part of every gated action, with or without a policy.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from fabro.config_file import FileSource
from fabro.engine.governor import Governor
from fabro.engine.outcome import Outcome
from fabro.engine.stage import StageHandler, StageRun
from fabro.governance.describe import command_action
from fabro.governance.policy import Policy, read_policy
from fabro.workflow.model import Node

SCRIPT = "pytest -q"  # the gated command (nothing runs it)
ALLOWED_BY = "tests"  # the rule that allows it

# What a team's server.toml might hold: every kind, each verdict, paths and hosts; the rule
# that allows SCRIPT comes late, so a decision walks past the others.
POLICY_TOML = """
[policy]
[[policy.rules]]
name = "no-push"
decision = "block"
program = "git"
args = "*push*"

[[policy.rules]]
name = "git-read"
decision = "allow"
program = "git"
args = "[lsd]*"

[[policy.rules]]
name = "git-commit"
decision = "alert"
program = "git"
args = "commit *"

[[policy.rules]]
name = "installs"
decision = "approve"
program = "pip"
args = "install *"

[[policy.rules]]
name = "npm"
decision = "approve"
program = "npm"

[[policy.rules]]
name = "no-sudo"
decision = "block"
program = "sudo"

[[policy.rules]]
name = "no-curl"
decision = "block"
program = "curl"

[[policy.rules]]
name = "rm-inside"
decision = "allow"
program = "rm"
paths = ["{work_dir}/**"]

[[policy.rules]]
name = "readers"
decision = "allow"
program = "[a-z]*"
args = "--version"

[[policy.rules]]
name = "make"
decision = "allow"
program = "make"
workflows = ["release", "ci"]

[[policy.rules]]
name = "write-inside"
decision = "allow"
kinds = ["file_write"]
paths = ["{work_dir}/**"]

[[policy.rules]]
name = "write-ci"
decision = "approve"
kinds = ["file_write"]
paths = ["{work_dir}/.github/**"]

[[policy.rules]]
name = "no-secrets"
decision = "block"
kinds = ["file_read", "file_write"]
paths = ["/etc/shadow", "{work_dir}/**/.env"]

[[policy.rules]]
name = "read-any"
decision = "allow"
kinds = ["file_read"]

[[policy.rules]]
name = "read-keys"
decision = "approve"
kinds = ["file_read"]
paths = ["/home/*/.ssh/*"]

[[policy.rules]]
name = "api"
decision = "approve"
hosts = ["*.example.com"]

[[policy.rules]]
name = "registry"
decision = "allow"
hosts = ["pypi.org", "files.pythonhosted.org"]

[[policy.rules]]
name = "ruff"
decision = "allow"
program = "ruff"

[[policy.rules]]
name = "tests"
decision = "allow"
kinds = ["command", "shell"]
program = "pytest"

[[policy.rules]]
name = "no-rm-root"
decision = "block"
program = "rm"
args = "-*r* /"
"""


def bench_policy(text: str = POLICY_TOML) -> Policy:
    """The policy of ``text`` (a server.toml's [policy]), read as `fabro serve` reads it."""
    document = tomllib.loads(text)
    return Policy.of(read_policy(FileSource(None, document), Path.cwd(), {}))


def governed(policy: Policy) -> Governor:
    """The governor of engines deciding with ``policy``."""
    return Governor(policy=lambda: policy)


def gated_first(handler: StageHandler) -> StageHandler:
    """``handler`` after a command that passes the stage's gate and runs nothing: the
    policy's decision (the engine's governor's), its receipt committed with everything
    before it, and how it ended."""

    async def with_gate(node: Node, stage: StageRun) -> Outcome:
        gate = stage.gate(command_action(SCRIPT, "shell"))
        async with stage.side_effect("command", "bench", gate):
            gate.ended(failed=False, exit_status=0)
        return await handler(node, stage)

    return with_gate
