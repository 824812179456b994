"""Every valid corpus workflow runs to an end in dry-run simulated mode (issue 6, part 3)."""

from __future__ import annotations

import asyncio
import tomllib
from typing import Any

import pytest

from fabro.workflow.prepare import read_source
from tests.engine.harness import Harness
from tests.shared_dir import CORPUS, PRESENT, needs_shared

pytestmark = needs_shared
PER_FILE_LIMIT_S = 30.0


def _valid_entries() -> list[dict[str, Any]]:
    if not PRESENT:
        return []  # the module's tests are deselected
    entries = tomllib.loads((CORPUS / "expected.toml").read_text(encoding="utf-8"))["file"]
    return [entry for entry in entries if entry["verdict"] == "valid"]


ENTRIES = _valid_entries()


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["path"] for e in ENTRIES])
async def test_valid_corpus_workflow_terminates(harness: Harness, entry: dict[str, Any]) -> None:
    path = CORPUS / entry["path"]
    goal: str | None = None
    variables: dict[str, str] = {}
    if "run_config" in entry:
        config = tomllib.loads((path.parent / entry["run_config"]).read_text(encoding="utf-8"))
        goal = config.get("goal")
        variables = {key: str(value) for key, value in config.get("vars", {}).items()}
    run, result = await asyncio.wait_for(
        harness.run(
            read_source(path),
            deps=harness.deps(dry_run=True),
            goal=goal,
            path=path,
            vars=variables,
        ),
        PER_FILE_LIMIT_S,
    )
    assert run.status == result.status
    if result.status == "completed":
        assert run.error_message is None
        assert (await harness.variants(run.id))[-1] == "WorkflowRunCompleted"
    else:
        assert result.status == "failed"
        assert run.error_message == f"Engine error: {result.error}"
        assert "handler panicked" not in (run.error_message or "")
        assert (await harness.variants(run.id))[-1] == "WorkflowRunFailed"
    for stage in await harness.stages(run.id):
        assert stage.status in ("completed", "failed"), (stage.stage_id, stage.status)
        failure = (stage.outcome or {}).get("failure") or {}
        assert "handler panicked" not in failure.get("message", ""), stage.stage_id
