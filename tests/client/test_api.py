"""Reading a run's status from either body (RunStatusResponse or a run list item); the
`fabro runs` commands built on the SDK alone."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

import fabro
from fabro.client.api import run_status, shown_status

QUESTION = {"id": "q-1", "text": "Ship it?"}


@pytest.mark.parametrize(
    ("body", "status", "shown"),
    [
        ({"status": "running"}, "running", "running"),
        ({"status": "running", "pending_question": QUESTION}, "running", "waiting"),
        # A list item: `status` is the board column, fabro's status is `run_status`.
        (
            {"status": "pending", "run_status": "running", "question": {"text": "?"}},
            "running",
            "waiting",
        ),
        ({"status": "pending", "run_status": "paused"}, "paused", "paused"),
        ({"status": "review", "run_status": "failed"}, "failed", "failed"),
        ({"status": "paused", "pending_question": QUESTION}, "paused", "paused"),
    ],
)
def test_status_helpers(body: dict[str, Any], status: str, shown: str) -> None:
    assert run_status(body) == status
    assert shown_status(body) == shown


CLI_MODULES = ["cli_runs", *(f"client/{m}" for m in ("answers", "api", "follow", "logs", "runs"))]


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("module", CLI_MODULES)
def test_the_runs_commands_have_no_http_layer_of_their_own(module: str) -> None:
    """Every `fabro runs` request goes through FabroClient/AsyncFabroClient (issue 17)."""
    tree = ast.parse((Path(fabro.__file__).parent / f"{module}.py").read_text(encoding="utf-8"))
    imported = _imports(tree)
    assert not imported & {"httpx", "fabro.auth.client", "fabro.client.events"}, imported
