"""Every workflow in examples/ validates cleanly and runs along its path in simulated mode.

Each example runs as a user would run it: `fabro run` in a subprocess, with no provider key in
the environment (so LLM stages use the simulated backend) and gates answered by
`--auto-approve` or by lines on stdin. The path is read back from the run's stored events:
the stages that ended, in order, `node=status` for an outcome other than success and
`node#N` for a stage that needed N attempts.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from fabro.storage import events
from fabro.storage.db import Database
from fabro.storage.records import EventRecord
from fabro.workflow.commands import validate_command

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
FABRO = [sys.executable, "-m", "fabro"]
RUN_TIMEOUT_S = 60


@dataclass(frozen=True)
class Case:
    """One run of an example and what it must do."""

    entry: str  # what `fabro run` gets, relative to examples/
    path: tuple[str, ...]
    args: tuple[str, ...] = ("--auto-approve",)
    stdin: str | None = None
    child_path: tuple[str, ...] = ()  # stages of a manager node's child workflow
    branches: dict[str, str] = field(default_factory=dict)  # parallel branch -> status


CASES: dict[str, Case] = {
    "build-test-fix": Case(
        "build-test-fix.dot",
        ("start", "build", "test=fail", "fix", "patch", "build", "test", "exit"),
    ),
    "approval-release": Case(
        "approval-release.dot", ("start", "build", "notes", "approve", "publish", "exit")
    ),
    "approval-release-piped": Case(
        "approval-release.dot",
        ("start", "build", "notes", "approve", "notes", "approve", "publish", "exit"),
        args=(),
        stdin="r\nA\n",
    ),
    "parallel-checks": Case(
        "parallel-checks.dot",
        ("start", "setup", "checks", "merge", "verdict", "report", "exit"),
        branches={"lint": "success", "compile": "success", "tests": "success"},
    ),
    "agent-with-tools": Case(
        "agent-with-tools.dot", ("start", "setup", "implement", "review", "exit")
    ),
    "goal-gated-review": Case(
        "goal-gated-review.dot",
        ("start", "draft", "review=fail", "revise", "signoff", "review", "exit"),
    ),
    "child-workflow": Case(
        "child-workflow.dot",
        ("start", "prepare", "checks", "report", "exit"),
        child_path=("start", "lint", "test", "exit"),
    ),
    "waits": Case(
        "waits.dot",
        (
            "start",
            "deploy",
            "settle",
            "ready=fail",
            "backoff",
            "ready=fail",
            "backoff",
            "ready",
            "smoke",
            "exit",
        ),
    ),
    "variables": Case("variables.toml", ("start", "plan", "deploy", "check", "exit")),
    "branching": Case(
        "branching.dot", ("start", "measure", "size", "detect", "lang", "python", "exit")
    ),
    "retries": Case("retries.dot", ("start", "fetch#3", "use", "exit")),
}

# What `fabro validate` reads for each example: a run configuration when the workflow needs
# its variables, else the DOT file; child workflows are checked on their own too.
VALIDATED = sorted(
    {case.entry for case in CASES.values()} | {"children/checks.dot"},
)


def test_every_example_has_a_case() -> None:
    on_disk = {path.name for path in EXAMPLES.glob("*.dot")}
    covered = {
        case.entry if case.entry.endswith(".dot") else _graph_of(case.entry)
        for case in CASES.values()
    }
    assert on_disk == covered
    assert len(on_disk) >= 10


@pytest.mark.parametrize("entry", VALIDATED)
def test_example_validates_without_a_diagnostic(entry: str) -> None:
    result = validate_command(str(EXAMPLES / entry), as_json=True)
    report = json.loads(result.stdout)
    assert (result.exit_code, report["diagnostics"]) == (0, [])


@pytest.mark.parametrize("entry", sorted(p.name for p in EXAMPLES.glob("*.dot")))
def test_example_header_says_what_it_shows(entry: str) -> None:
    header = (EXAMPLES / entry).read_text(encoding="utf-8").split("digraph", 1)[0]
    assert "// Shows:" in header and "// Try it:" in header


@pytest.mark.parametrize("name", sorted(CASES))
async def test_example_runs_along_its_path(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    run_id = await _fabro_run(case, tmp_path)
    events = await _stored_events(tmp_path / "data" / "local.db", run_id)
    assert _path(events, depth=0) == case.path
    assert _path(events, depth=1) == case.child_path
    assert _branches(events) == case.branches


def test_variables_reach_a_script_as_one_word_each(tmp_path: Path) -> None:
    """`--var` wins over variables.toml, and a value with spaces stays one word."""
    case = Case(
        "variables.toml",
        ("start", "plan", "deploy", "check", "exit"),
        args=("--var", "service=billing api", "--var", "environment=eu; rm -rf x"),
    )
    run_id = asyncio.run(_fabro_run(case, tmp_path))
    log = tmp_path / "data" / "runs" / run_id / "work" / "deploy.log"
    assert log.read_text(encoding="utf-8") == "deploying billing api to eu; rm -rf x\n"


def _graph_of(run_config: str) -> str:
    import tomllib

    graph: str = tomllib.loads((EXAMPLES / run_config).read_text(encoding="utf-8"))["graph"]
    return graph


def _environment(home: Path) -> dict[str, str]:
    """The caller's environment without provider keys or fabro settings: simulated LLMs."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FABRO_", "ANTHROPIC_", "OPENAI_")) and not key.endswith("_API_KEY")
    }
    env.update(HOME=str(home), NO_COLOR="1")
    return env


async def _fabro_run(case: Case, tmp_path: Path) -> str:
    """Run the example as a user would; returns the run id (the run must complete)."""
    command = [
        *FABRO,
        "run",
        str(EXAMPLES / case.entry),
        "--data-dir",
        str(tmp_path / "data"),
        "--json",
        *case.args,
    ]
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=tmp_path,
        env=_environment(tmp_path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(RUN_TIMEOUT_S):
        stdout, stderr = await process.communicate((case.stdin or "").encode())
    assert process.returncode == 0, stderr.decode()
    run = json.loads(stdout)
    assert run["status"] == "completed", stderr.decode()
    run_id: str = run["id"]
    return run_id


async def _stored_events(db_path: Path, run_id: str) -> list[EventRecord]:
    db = await Database.open(db_path)
    try:
        return await events.events_after(db, run_id, 0, limit=100_000)
    finally:
        await db.close()


def _path(events: list[EventRecord], depth: int) -> tuple[str, ...]:
    steps = []
    for event in events:
        if event.child_depth != depth:
            continue
        fields = event.payload.get(event.variant, {})
        if event.variant == "StageCompleted":
            step = fields["node_id"]
            if fields["status"] != "success":
                step += f"={fields['status']}"
            if fields["attempt"] > 1:
                step += f"#{fields['attempt']}"
            steps.append(step)
        elif event.variant == "StageFailed" and not fields["will_retry"]:
            steps.append(f"{fields['node_id']}=fail")
    return tuple(steps)


def _branches(events: list[EventRecord]) -> dict[str, str]:
    return {
        event.payload["ParallelBranchCompleted"]["branch"]: event.payload[
            "ParallelBranchCompleted"
        ]["status"]
        for event in events
        if event.variant == "ParallelBranchCompleted" and event.child_depth == 0
    }
