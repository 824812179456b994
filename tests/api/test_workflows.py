"""The workflows registry over HTTP (api.md §7), with runs started from it by the real engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from fabro.config import Settings
from tests.api.envelope import assert_envelope
from tests.api.runs_helpers import wait_for

FIX_DOT = """digraph FixBuild {
  graph [goal="Make CI green"]
  start [shape=Mdiamond]
  work [label="Work", prompt="Do $goal in $repo"]
  exit [shape=Msquare]
  start -> work -> exit
}
"""
FIX_TOML = """version = 1
name = "Fix the build"
goal = "Make CI green"
[llm]
model = "claude-sonnet-4-5"
[vars]
repo = "api"
[labels]
team = "web"
"""


def add(settings: Settings, slug: str, files: dict[str, str]) -> None:
    folder = settings.workflows_dir / slug
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")


@pytest.fixture
def registry(settings: Settings) -> Path:
    add(settings, "fix_build", {"workflow.dot": FIX_DOT, "workflow.toml": FIX_TOML})
    add(settings, "broken", {"workflow.dot": "digraph Broken {\n  a -> \n}\n"})
    labeled = 'digraph L { graph [label="Shown"]; start [shape=Mdiamond]; start -> exit }'
    add(settings, "Labeled", {"workflow.fabro": labeled})
    return settings.workflows_dir


async def get(client: Client, headers: dict[str, str], path: str) -> tuple[int, Any]:
    response = await client.get(path, headers=headers)
    return response.status_code, await response.get_json()


async def start(client: Client, headers: dict[str, str], workflow: str) -> dict[str, Any]:
    response = await client.post("/runs", json={"workflow": workflow}, headers=headers)
    assert response.status_code == 201, await response.get_data(as_text=True)
    body: dict[str, Any] = await response.get_json()
    return body


async def test_empty_registry(client: Client, auth_headers: dict[str, str]) -> None:
    assert await get(client, auth_headers, "/workflows") == (
        200,
        {"data": [], "meta": {"has_more": False}},
    )


async def test_list_is_sorted_by_slug_with_names_and_unparsable_dot_listed(
    client: Client, auth_headers: dict[str, str], registry: Path
) -> None:
    assert await get(client, auth_headers, "/workflows") == (
        200,
        {
            "data": [
                {"name": "Shown", "slug": "Labeled", "filename": "workflow.fabro"},
                {"name": "broken", "slug": "broken", "filename": "workflow.dot"},
                {"name": "Fix the build", "slug": "fix_build", "filename": "workflow.dot"},
            ],
            "meta": {"has_more": False},
        },
    )
    status, page = await get(client, auth_headers, "/workflows?page[limit]=2")
    assert [item["slug"] for item in page["data"]] == ["Labeled", "broken"]
    assert page["meta"] == {"has_more": True}
    status, page = await get(client, auth_headers, "/workflows?page[limit]=2&page[offset]=2")
    assert status == 200
    assert [item["slug"] for item in page["data"]] == ["fix_build"]
    assert page["meta"] == {"has_more": False}


async def test_registry_is_rescanned_on_every_request(
    client: Client, auth_headers: dict[str, str], settings: Settings
) -> None:
    assert (await get(client, auth_headers, "/workflows"))[1]["data"] == []
    add(settings, "late", {"workflow.dot": FIX_DOT})
    status, page = await get(client, auth_headers, "/workflows")
    assert status == 200
    assert [item["slug"] for item in page["data"]] == ["late"]
    assert page["data"][0]["name"] == "FixBuild"


async def test_retrieve_workflow_detail(
    client: Client, auth_headers: dict[str, str], registry: Path
) -> None:
    assert await get(client, auth_headers, "/workflows/fix_build") == (
        200,
        {
            "name": "Fix the build",
            "slug": "fix_build",
            "filename": "workflow.dot",
            "description": "Make CI green",
            "config": {
                "version": 1,
                "graph": "workflow.dot",
                "goal": "Make CI green",
                "llm": {"model": "claude-sonnet-4-5"},
                "vars": {"repo": "api"},
            },
            "graph": FIX_DOT,
        },
    )
    status, broken = await get(client, auth_headers, "/workflows/broken")
    assert status == 200
    assert broken["description"] == "" and broken["config"] == {
        "version": 1,
        "graph": "workflow.dot",
    }


@pytest.mark.parametrize("path", ["/workflows/nope", "/workflows/nope/runs", "/workflows/..%2Fx"])
async def test_unknown_workflow_is_404(
    client: Client, auth_headers: dict[str, str], registry: Path, path: str
) -> None:
    status, body = await get(client, auth_headers, path)
    assert status == 404
    assert_envelope(body, 404, "Workflow not found." if "%2F" not in path else None)


async def test_bad_page_parameters_are_400_before_the_lookup(
    client: Client, auth_headers: dict[str, str]
) -> None:
    for path in ("/workflows?page[limit]=x", "/workflows/nope/runs?page[offset]=-1"):
        status, body = await get(client, auth_headers, path)
        assert status == 400
        assert_envelope(body, 400)


async def test_runs_of_a_workflow_and_last_run(
    client: Client, auth_headers: dict[str, str], registry: Path
) -> None:
    first = await start(client, auth_headers, "fix_build")
    assert first["workflow"] == {"slug": "fix_build"} and first["labels"] == {"team": "web"}
    await wait_for(client, auth_headers, first["id"], {"completed"})
    second = await start(client, auth_headers, "fix_build")
    await wait_for(client, auth_headers, second["id"], {"completed"})
    other = await start(client, auth_headers, "Labeled")
    await wait_for(client, auth_headers, other["id"], {"completed"})

    status, page = await get(client, auth_headers, "/workflows")
    items = {item["slug"]: item for item in page["data"]}
    assert items["fix_build"]["last_run"] == {"ran_at": second["created_at"]}
    assert items["Labeled"]["last_run"] == {"ran_at": other["created_at"]}
    assert "last_run" not in items["broken"]

    status, runs = await get(client, auth_headers, "/workflows/fix_build/runs")
    assert status == 200 and runs["meta"] == {"has_more": False}
    assert [run["id"] for run in runs["data"]] == [second["id"], first["id"]]
    for run in runs["data"]:
        status = (await get(client, auth_headers, f"/runs/{run['id']}"))[1]
        assert run["run_status"] == status["status"] == "completed"
        assert run["workflow"] == status["workflow"] == {"slug": "fix_build"}
        assert (run["status"], run["labels"]) == ("review", {"team": "web"})
    status, one = await get(client, auth_headers, "/workflows/fix_build/runs?page[limit]=1")
    assert [run["id"] for run in one["data"]] == [second["id"]]
    assert one["meta"] == {"has_more": True}
    assert (await get(client, auth_headers, "/workflows/broken/runs"))[1] == {
        "data": [],
        "meta": {"has_more": False},
    }


async def test_invalid_workflow_toml_is_listed_but_cannot_start(
    client: Client, auth_headers: dict[str, str], settings: Settings
) -> None:
    add(settings, "bad", {"workflow.dot": FIX_DOT, "workflow.toml": "[vars]\nn = 1\n"})
    status, page = await get(client, auth_headers, "/workflows")
    assert page["data"] == [{"name": "FixBuild", "slug": "bad", "filename": "workflow.dot"}]
    status, detail = await get(client, auth_headers, "/workflows/bad")
    assert status == 200 and detail["config"] == {"version": 1, "graph": "workflow.dot"}
    response = await client.post("/runs", json={"workflow": "bad"}, headers=auth_headers)
    assert response.status_code == 400
    toml = settings.workflows_dir / "bad" / "workflow.toml"
    assert_envelope(
        await response.get_json(),
        400,
        f"Invalid workflow configuration {toml}: 'vars.n' must be a string.",
    )
