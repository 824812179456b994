"""Reading a run's status from either body: RunStatusResponse or a run list item."""

from __future__ import annotations

from typing import Any

import pytest

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
