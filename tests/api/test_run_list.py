"""The run list is the original's board: every required field of its OpenAPI `RunListItem`,
`status` as a board column, and fabro's own status in `run_status` (api.md §6.3).

The original's web app and its generated TypeScript client read `item.repository.name`,
`item.workflow.slug` and the column in `status`; a list of RunStatusResponse broke its runs
board and every run page. The tables below are read from the original OpenAPI document
(`RunListItem`, `BoardColumn`, `RunQuestion`); tests/api/test_original_client.py checks the
same against the document itself when it is at hand.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from fabro.api.views import BOARD_COLUMNS, board_column
from fabro.storage.records import RUN_STATUSES, RunStatus
from tests.api.runs_helpers import GATED, LINEAR, start, wait_for, wait_for_question

# RunListItem's required fields and the JSON type of each.
REQUIRED: dict[str, type] = {
    "id": str,
    "repository": dict,
    "title": str,
    "workflow": dict,
    "status": str,
    "created_at": str,
}
COLUMNS = {"working", "pending", "review", "merge"}  # BoardColumn

# fabro's statuses on the board: (run_status, a question waits) -> column.
BOARD: list[tuple[RunStatus, bool, str]] = [
    ("queued", False, "working"),
    ("starting", False, "working"),
    ("running", False, "working"),
    ("running", True, "pending"),
    ("paused", False, "pending"),
    ("paused", True, "pending"),
    ("completed", False, "review"),
    ("failed", False, "review"),
    ("cancelled", False, "review"),
]


@pytest.mark.parametrize(("status", "waiting", "column"), BOARD)
def test_board_column_of_each_status(status: RunStatus, waiting: bool, column: str) -> None:
    assert board_column(status, waiting=waiting) == column


def test_every_status_has_a_column_of_the_board() -> None:
    assert set(BOARD_COLUMNS) == set(RUN_STATUSES) == {status for status, _, _ in BOARD}
    assert set(BOARD_COLUMNS.values()) <= COLUMNS


def assert_board_item(item: dict[str, Any]) -> None:
    """What the original's clients need of an item, whatever the run's state."""
    for name, kind in REQUIRED.items():
        assert isinstance(item[name], kind), name
    assert isinstance(item["repository"]["name"], str)
    assert isinstance(item["workflow"]["slug"], str)
    assert item["status"] in COLUMNS
    assert item["run_status"] in RUN_STATUSES
    datetime.fromisoformat(item["created_at"].replace("Z", "+00:00"))
    if "question" in item:
        assert isinstance(item["question"]["text"], str)
    if "timings" in item:
        assert item["timings"]["elapsed_secs"] >= 0


async def list_item(client: Client, headers: dict[str, str], run_id: str) -> dict[str, Any]:
    page = await (await client.get("/runs", headers=headers)).get_json()
    for item in page["data"]:
        assert_board_item(item)
    (item,) = [item for item in page["data"] if item["id"] == run_id]
    return item  # type: ignore[no-any-return]


async def test_a_run_waiting_at_a_gate_is_pending_with_its_question(
    client: Client, auth_headers: dict[str, str]
) -> None:
    run = await start(client, auth_headers, GATED, labels={"repository": "api-server"})
    question = await wait_for_question(client, auth_headers, run["id"])
    item = await list_item(client, auth_headers, run["id"])
    assert (item["status"], item["run_status"]) == ("pending", "running")
    assert item["question"] == {"text": "Approve Plan"}
    assert item["pending_question"] == {"id": question["id"], "text": "Approve Plan"}
    assert item["repository"] == {"name": "api-server"}
    assert item["workflow"] == {"slug": "Gated"}  # a dot_source run: its digraph's name
    assert item["title"] == run["title"] and item["created_at"] == run["created_at"]
    assert "timings" in item

    answered = await client.post(
        f"/runs/{run['id']}/questions/{question['id']}/answer",
        json={"selected_option_key": "R"},
        headers=auth_headers,
    )
    assert answered.status_code == 204
    await wait_for(client, auth_headers, run["id"], {"completed"})
    item = await list_item(client, auth_headers, run["id"])
    assert (item["status"], item["run_status"]) == ("review", "completed")
    assert "question" not in item and "pending_question" not in item


async def test_a_finished_run_is_in_review_with_its_elapsed_time(
    client: Client, auth_headers: dict[str, str]
) -> None:
    run = await start(client, auth_headers, LINEAR)
    done = await wait_for(client, auth_headers, run["id"], {"completed"})
    item = await list_item(client, auth_headers, run["id"])
    assert (item["status"], item["run_status"]) == ("review", "completed")
    assert item["repository"] == {"name": ""}  # no `repository` label
    assert (item["started_at"], item["finished_at"]) == (done["started_at"], done["finished_at"])
    started = datetime.fromisoformat(done["started_at"].replace("Z", "+00:00"))
    finished = datetime.fromisoformat(done["finished_at"].replace("Z", "+00:00"))
    assert item["timings"] == {"elapsed_secs": round((finished - started).total_seconds(), 3)}
    assert started.tzinfo == UTC


async def test_the_status_filter_reads_run_status(
    client: Client, auth_headers: dict[str, str]
) -> None:
    run = await start(client, auth_headers, LINEAR)
    await wait_for(client, auth_headers, run["id"], {"completed"})
    done = await (await client.get("/runs?status=completed", headers=auth_headers)).get_json()
    assert [item["id"] for item in done["data"]] == [run["id"]]
    none = await (await client.get("/runs?status=running", headers=auth_headers)).get_json()
    assert none["data"] == []
