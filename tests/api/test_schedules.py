"""Schedules over HTTP (issue 19): create, read, change, pause, trigger, history, delete; the
400s naming the field, the 404s, and the roles (a viewer reads, an operator acts)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from fabro.auth.keys import ensure_key_pair
from fabro.config import Settings, load_settings
from fabro.services import Services
from tests.api.envelope import assert_envelope
from tests.api.runs_helpers import wait_for

CONFIG = """
[api]
authentication_strategies = ["jwt"]
[web.auth]
allowed_usernames = ["alice", "bob", "carol"]
[roles]
admin = ["alice"]
operator = ["bob"]
viewer = ["carol"]
default = "none"

[policy]
[[policy.rules]]
name = "echo"
decision = "allow"
program = "echo"

[[policy.rules]]
name = "no-push"
decision = "block"
program = "git"
args = "*push*"
"""
HELLO = """digraph Hello {
  graph [goal="Say hello"]
  start [shape=Mdiamond]
  greet [shape=parallelogram, script="echo hello $who"]
  exit [shape=Msquare]
  start -> greet -> exit
}
"""
PUSH = """digraph Push {
  start [shape=Mdiamond]
  push [shape=parallelogram, script="git push origin main"]
  exit [shape=Msquare]
  start -> push -> exit
}
"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    ensure_key_pair(tmp_path / "data" / "keys")
    config = tmp_path / "server.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n' + CONFIG, encoding="utf-8")
    loaded = load_settings(config, env={"HOME": str(tmp_path)}).settings
    for slug, dot in (("hello", HELLO), ("push", PUSH)):
        folder = loaded.workflows_dir / slug
        folder.mkdir(parents=True)
        (folder / "workflow.dot").write_text(dot, encoding="utf-8")
    return loaded


@pytest.fixture
def as_user(make_token: Callable[..., str]) -> Callable[[str], dict[str, str]]:
    return lambda user: {"Authorization": f"Bearer {make_token(user)}"}


async def call(
    client: Client, headers: dict[str, str], method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    response = await client.open(path, method=method, json=body, headers=headers)
    text = await response.get_data(as_text=True)
    return response.status_code, (await response.get_json()) if text.strip() else None


async def create(client: Client, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    status, created = await call(client, headers, "POST", "/workflows/hello/schedules", body)
    assert status == 201, created
    return dict(created)


async def test_create_read_change_and_delete(
    client: Client, as_user: Callable[[str], dict[str, str]]
) -> None:
    bob = as_user("bob")
    created = await create(
        client,
        bob,
        cron="0 9 * * 1-5",
        time_zone="America/New_York",
        vars={"who": "team"},
        labels={"team": "web"},
        title="Morning hello",
        missed="run_once",
    )
    assert created["workflow"] == "hello" and created["created_by"] == "bob"
    assert created["paused"] is False and created["missed"] == "run_once"
    # 09:00 in New York is 13:00 or 14:00 UTC (summer or winter), never 09:00 UTC.
    assert created["next_fire_at"][11:16] in ("13:00", "14:00"), created["next_fire_at"]
    path = f"/workflows/hello/schedules/{created['id']}"

    status, listed = await call(client, as_user("carol"), "GET", "/workflows/hello/schedules")
    assert status == 200 and [item["id"] for item in listed["data"]] == [created["id"]]
    status, one = await call(client, as_user("carol"), "GET", path)
    assert status == 200 and one == created

    status, changed = await call(client, bob, "PATCH", path, {"cron": "30 6 * * *", "title": None})
    assert status == 200, changed
    assert changed["cron"] == "30 6 * * *" and changed["title"] is None
    assert changed["vars"] == {"who": "team"} and changed["time_zone"] == "America/New_York"
    assert changed["next_fire_at"][11:16] in ("10:30", "11:30")

    status, _ = await call(client, bob, "DELETE", path)
    assert status == 204
    status, gone = await call(client, bob, "GET", path)
    assert status == 404
    assert_envelope(gone, 404, "Schedule not found.")


async def test_pause_unpause_and_trigger_with_history(
    client: Client, services: Services, as_user: Callable[[str], dict[str, str]]
) -> None:
    bob = as_user("bob")
    created = await create(client, bob, cron="0 0 1 1 *", vars={"who": "world"}, title="Yearly")
    path = f"/workflows/hello/schedules/{created['id']}"

    status, paused = await call(client, bob, "POST", path + "/pause")
    assert status == 200 and paused["paused"] is True and paused["next_fire_at"] is None
    status, unpaused = await call(client, bob, "POST", path + "/unpause")
    assert status == 200 and unpaused["paused"] is False
    assert unpaused["next_fire_at"] == created["next_fire_at"]

    status, fire = await call(client, bob, "POST", path + "/trigger")
    assert status == 201, fire
    assert fire["kind"] == "trigger" and fire["status"] == "started" and fire["run_id"]
    run = await wait_for(client, bob, fire["run_id"], {"completed", "failed"})
    assert run["status"] == "completed", run
    stored = await services.store.get_run(fire["run_id"])
    assert stored is not None and stored.created_by == "bob"
    assert stored.title == "Yearly" and stored.vars == {"who": "world"}
    assert stored.workflow_slug == "hello"

    status, history = await call(client, as_user("carol"), "GET", path + "/history")
    assert status == 200
    assert [(f["kind"], f["status"], f["run_id"]) for f in history["data"]] == [
        ("trigger", "started", fire["run_id"])
    ]


async def test_a_fire_the_policy_blocks_is_refused_and_recorded(
    client: Client, as_user: Callable[[str], dict[str, str]]
) -> None:
    bob = as_user("bob")
    status, created = await call(
        client, bob, "POST", "/workflows/push/schedules", {"cron": "@daily"}
    )
    assert status == 201, created
    path = f"/workflows/push/schedules/{created['id']}"
    status, refused = await call(client, bob, "POST", path + "/trigger")
    assert status == 422
    assert "no-push" in refused["errors"][0]["detail"], refused
    status, document = await call(client, bob, "GET", "/openapi.json")
    trigger = document["paths"]["/workflows/{name}/schedules/{id}/trigger"]["post"]
    assert "422" in trigger["responses"]  # documented, as the API fuzz requires
    status, history = await call(client, bob, "GET", path + "/history")
    [fire] = history["data"]
    assert fire["status"] == "refused" and fire["run_id"] is None
    assert "no-push" in fire["detail"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"cron": "61 * * * *"}, "Field 'cron'"),
        ({"cron": "* * * * * *"}, "Field 'cron'"),
        ({"cron": "@fortnightly"}, "Field 'cron'"),
        ({"cron": "0 9 * * *", "time_zone": "Mars/Olympus"}, "Field 'time_zone'"),
        ({"cron": "0 9 * * *", "time_zone": "../../etc/passwd"}, "Field 'time_zone'"),
        ({"cron": "0 9 * * *", "missed": "all"}, "Field 'missed'"),
        ({"time_zone": "UTC"}, "Missing required field 'cron'"),
        ({"cron": "0 9 * * *", "labels": {"a b": "c"}}, "field 'labels'"),
    ],
)
async def test_bad_input_is_a_400_naming_the_field(
    client: Client, as_user: Callable[[str], dict[str, str]], body: Any, detail: str
) -> None:
    status, error = await call(client, as_user("bob"), "POST", "/workflows/hello/schedules", body)
    assert status == 400, error
    assert_envelope(error, 400)
    assert detail in error["errors"][0]["detail"], error


async def test_patch_checks_the_cron_and_zone_too(
    client: Client, as_user: Callable[[str], dict[str, str]]
) -> None:
    bob = as_user("bob")
    created = await create(client, bob, cron="@hourly")
    path = f"/workflows/hello/schedules/{created['id']}"
    status, error = await call(client, bob, "PATCH", path, {"time_zone": "Nowhere/Land"})
    assert status == 400 and "Field 'time_zone'" in error["errors"][0]["detail"]
    status, error = await call(client, bob, "PATCH", path, {"cron": "every minute"})
    assert status == 400 and "Field 'cron'" in error["errors"][0]["detail"]


async def test_unknown_workflow_or_schedule_is_a_404(
    client: Client, as_user: Callable[[str], dict[str, str]]
) -> None:
    bob = as_user("bob")
    status, error = await call(client, bob, "POST", "/workflows/nope/schedules", {"cron": "@daily"})
    assert status == 404
    assert_envelope(error, 404, "Workflow not found.")
    created = await create(client, bob, cron="@daily")
    # A schedule is found under its own workflow only.
    status, error = await call(client, bob, "GET", f"/workflows/push/schedules/{created['id']}")
    assert status == 404
    assert_envelope(error, 404, "Schedule not found.")


async def test_a_viewer_reads_but_cannot_create_or_act(
    client: Client, as_user: Callable[[str], dict[str, str]]
) -> None:
    carol = as_user("carol")
    status, error = await call(
        client, carol, "POST", "/workflows/hello/schedules", {"cron": "@daily"}
    )
    assert status == 403
    assert_envelope(error, 403)
    created = await create(client, as_user("bob"), cron="@daily")
    path = f"/workflows/hello/schedules/{created['id']}"
    for method, suffix in (("POST", "/trigger"), ("POST", "/pause"), ("DELETE", "")):
        status, _ = await call(client, carol, method, path + suffix)
        assert status == 403, (method, suffix)
    status, _ = await call(client, carol, "PATCH", path, {"title": "x"})
    assert status == 403
    status, _ = await call(client, carol, "GET", path + "/history")
    assert status == 200
