"""Roles in the web UI: a viewer sees no control it cannot use, and its POSTs are refused by
the same check as the API's (fabro/api/authorize.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from fabro.auth.keys import ensure_key_pair
from fabro.config import Settings, load_settings
from fabro.governance.roles import NOT_OWNER
from fabro.services import Services
from fabro.ui.auth import COOKIE
from tests.api.runs_helpers import GATED, start, wait_for_question
from tests.conftest import write_config
from tests.ui.conftest import csrf_of, open_session

ROLES = """
[roles]
admin = ["alice"]
operator = ["bob"]
viewer = ["carol"]
default = "none"
operators_own_runs_only = true
"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    ensure_key_pair(tmp_path / "data" / "keys")
    return load_settings(write_config(tmp_path, ROLES), env={"HOME": str(tmp_path)}).settings


async def signed_in(app: Quart, services: Services, login: str) -> tuple[Client, str]:
    cookie = await open_session(services, login)
    browser = app.test_client()
    browser.set_cookie("localhost", COOKIE, cookie)
    return browser, csrf_of(cookie)


async def test_a_viewer_sees_the_run_without_its_controls_and_cannot_cancel_it(
    app: Quart, services: Services, client: Client, auth_headers: dict[str, str]
) -> None:
    run = await start(client, auth_headers, GATED)
    question = await wait_for_question(client, auth_headers, run["id"])
    carol, csrf = await signed_in(app, services, "carol")
    page = await (await carol.get(f"/ui/runs/{run['id']}")).get_data(as_text=True)
    assert "Approve Plan" in page  # the run and its question are shown
    assert "/actions/" not in page and 'id="run-cancel"' not in page
    assert f"/questions/{question['id']}/answer" not in page
    assert "needs the operator role" in page
    board = await (await carol.get("/ui/")).get_data(as_text=True)
    assert "/ui/runs/new" not in board  # no New run link
    assert (await carol.get("/ui/runs/new")).status_code == 403

    refused = await carol.post(f"/ui/runs/{run['id']}/actions/cancel", form={"csrf_token": csrf})
    assert refused.status_code == 403
    assert "This needs the operator role; carol has viewer." in await refused.get_data(as_text=True)
    answer = f"/ui/runs/{run['id']}/questions/{question['id']}/answer"
    assert (await carol.post(answer, form={"csrf_token": csrf, "option": "A"})).status_code == 403
    assert (await client.get(f"/runs/{run['id']}", headers=auth_headers)).status_code == 200

    alice, _ = await signed_in(app, services, "alice")
    page = await (await alice.get(f"/ui/runs/{run['id']}")).get_data(as_text=True)
    assert 'id="run-cancel"' in page and f"/questions/{question['id']}/answer" in page
    await client.post(f"/runs/{run['id']}/cancel", headers=auth_headers)


async def test_a_principal_without_a_role_gets_403_pages_but_may_sign_out(
    app: Quart, services: Services
) -> None:
    dave, csrf = await signed_in(app, services, "dave")
    page = await dave.get("/ui/")
    assert page.status_code == 403
    assert "This needs the viewer role; dave has no role." in await page.get_data(as_text=True)
    assert (await dave.post("/ui/signout", form={"csrf_token": csrf})).status_code == 303


async def test_an_operator_may_not_cancel_a_run_it_did_not_start_from_the_ui(
    app: Quart, services: Services, client: Client, auth_headers: dict[str, str]
) -> None:
    run = await start(client, auth_headers, GATED)  # started by alice
    bob, csrf = await signed_in(app, services, "bob")
    refused = await bob.post(f"/ui/runs/{run['id']}/actions/cancel", form={"csrf_token": csrf})
    assert refused.status_code == 403
    assert NOT_OWNER in await refused.get_data(as_text=True)
    await client.post(f"/runs/{run['id']}/cancel", headers=auth_headers)
