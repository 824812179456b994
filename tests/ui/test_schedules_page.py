"""A workflow's schedules page: listed with their next fire as a machine-readable time (shown
in the viewer's zone by common.js), added by a form (a bad cron shown back with the field
named), paused, unpaused, run now and deleted by an operator; a viewer sees no control and
its POSTs are refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from fabro.auth.keys import ensure_key_pair
from fabro.config import Settings, load_settings
from fabro.services import Services
from fabro.ui.auth import COOKIE
from tests.conftest import write_config
from tests.ui.conftest import csrf_of, open_session

ROLES = """
[roles]
admin = ["alice"]
operator = ["bob"]
viewer = ["carol"]
default = "none"
"""
HELLO = """digraph Hello {
  start [shape=Mdiamond]
  greet [shape=parallelogram, script="echo hello"]
  exit [shape=Msquare]
  start -> greet -> exit
}
"""
PAGE = "/ui/workflows/hello/schedules"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    ensure_key_pair(tmp_path / "data" / "keys")
    loaded = load_settings(write_config(tmp_path, ROLES), env={"HOME": str(tmp_path)}).settings
    folder = loaded.workflows_dir / "hello"
    folder.mkdir(parents=True)
    (folder / "workflow.dot").write_text(HELLO, encoding="utf-8")
    return loaded


async def signed_in(app: Quart, services: Services, login: str) -> tuple[Client, str]:
    cookie = await open_session(services, login)
    browser = app.test_client()
    browser.set_cookie("localhost", COOKIE, cookie)
    return browser, csrf_of(cookie)


async def text(browser: Client, path: str) -> str:
    response = await browser.get(path)
    assert response.status_code == 200, path
    return await response.get_data(as_text=True)


async def test_an_operator_adds_pauses_runs_and_deletes_a_schedule(
    app: Quart, services: Services
) -> None:
    bob, csrf = await signed_in(app, services, "bob")
    workflow_page = await text(bob, "/ui/workflows/hello")
    assert f'href="{PAGE}"' in workflow_page

    form = {
        "csrf_token": csrf,
        "cron": "0 9 * * 1-5",
        "time_zone": "Europe/Paris",
        "missed": "run_once",
        "title": "Weekday hello",
        "goal": "",
        "variables": "who=all",
        "labels": "",
    }
    added = await bob.post(PAGE, form=form)
    assert added.status_code == 303 and added.headers["Location"].endswith(PAGE)
    [schedule] = (await services.schedules.list_for_workflow("hello", limit=5, offset=0)).items
    assert schedule.created_by == "bob" and schedule.vars == {"who": "all"}
    page = await text(bob, PAGE)
    assert "Weekday hello" in page and f'<time datetime="{schedule.next_fire_at}">' in page
    assert "Europe/Paris" in page and "run once" in page

    action = f"{PAGE}/{schedule.id}"
    assert (await bob.post(f"{action}/pause", form={"csrf_token": csrf})).status_code == 303
    paused = await text(bob, PAGE)
    assert "none while paused" in paused and f"{action}/unpause" in paused
    assert (await bob.post(f"{action}/unpause", form={"csrf_token": csrf})).status_code == 303
    assert f"{action}/pause" in await text(bob, PAGE)

    ran = await bob.post(f"{action}/trigger", form={"csrf_token": csrf})
    assert ran.status_code == 303
    run_id = re.fullmatch(r".*/ui/runs/([0-9A-Z]{26})", ran.headers["Location"])
    assert run_id is not None
    assert f"/ui/runs/{run_id.group(1)}" in await text(bob, PAGE)  # in its last fires

    assert (await bob.post(f"{action}/delete", form={"csrf_token": csrf})).status_code == 303
    assert "No schedules for this workflow yet." in await text(bob, PAGE)


async def test_a_bad_cron_comes_back_with_the_field_named(app: Quart, services: Services) -> None:
    bob, csrf = await signed_in(app, services, "bob")
    form = {
        "csrf_token": csrf,
        "cron": "every morning",
        "time_zone": "UTC",
        "missed": "skip",
        "title": "Kept <b>",
        "goal": "",
        "variables": "",
        "labels": "",
    }
    refused = await bob.post(PAGE, form=form)
    assert refused.status_code == 400
    page = await refused.get_data(as_text=True)
    assert "Field &#39;cron&#39;" in page or "Field 'cron'" in page
    assert 'value="every morning"' in page and "Kept &lt;b&gt;" in page
    form.update(cron="@daily", time_zone="Moon/Base")
    page = await (await bob.post(PAGE, form=form)).get_data(as_text=True)
    assert "time_zone" in page


async def test_a_viewer_sees_no_control_and_cannot_act(app: Quart, services: Services) -> None:
    bob, bob_csrf = await signed_in(app, services, "bob")
    form = {
        "csrf_token": bob_csrf,
        "cron": "@daily",
        "time_zone": "UTC",
        "missed": "skip",
        "title": "",
        "goal": "",
        "variables": "",
        "labels": "",
    }
    assert (await bob.post(PAGE, form=form)).status_code == 303
    [schedule] = (await services.schedules.list_for_workflow("hello", limit=5, offset=0)).items

    carol, csrf = await signed_in(app, services, "carol")
    page = await text(carol, PAGE)
    assert "@daily" in page
    assert 'id="new-schedule"' not in page and "/trigger" not in page and "/pause" not in page
    refused = await carol.post(f"{PAGE}/{schedule.id}/trigger", form={"csrf_token": csrf})
    assert refused.status_code == 403
    form["csrf_token"] = csrf
    assert (await carol.post(PAGE, form=form)).status_code == 403
