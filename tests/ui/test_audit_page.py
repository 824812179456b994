"""The audit log page: admins see it in the navigation and read the records with the API's
filters; anyone else sees no link and is refused (and the refusal is recorded)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from fabro.auth.keys import ensure_key_pair
from fabro.config import Settings, load_settings
from fabro.services import Services
from fabro.storage.audit import AuditFilter, AuditRecord
from fabro.ui.auth import COOKIE
from tests.conftest import write_config
from tests.ui.conftest import open_session

ROLES = '\n[roles]\nadmin = ["alice"]\noperator = ["bob"]\n'


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    ensure_key_pair(tmp_path / "data" / "keys")
    return load_settings(write_config(tmp_path, ROLES), env={"HOME": str(tmp_path)}).settings


async def browser(app: Quart, services: Services, login: str) -> Client:
    client = app.test_client()
    client.set_cookie("localhost", COOKIE, await open_session(services, login))
    return client


def record(request_id: str, principal: str | None, result: str, status: int) -> AuditRecord:
    return AuditRecord(
        at="2026-03-01T10:00:00.000Z", principal=principal, role=None, action="startRun",
        method="POST", target="/runs", status=status, result=result, request_id=request_id,
        client="10.0.0.7",
    )  # fmt: skip


async def test_an_admin_reads_the_log_with_filters(app: Quart, services: Services) -> None:
    await services.audit.write(record("req-ok", "carol", "ok", 201))
    await services.audit.write(record("req-refused", None, "refused", 401))
    alice = await browser(app, services, "alice")
    board = await (await alice.get("/ui/")).get_data(as_text=True)
    assert 'href="/ui/audit"' in board
    page = await (await alice.get("/ui/audit")).get_data(as_text=True)
    assert "req-ok" in page and "req-refused" in page and "10.0.0.7" in page
    assert page.index("req-refused") < page.index("req-ok")  # newest first
    # The stored UTC time, for common.js to write in the viewer's zone (as on every page).
    assert '<time datetime="2026-03-01T10:00:00.000Z">' in page and "(UTC)" not in page
    only = await (await alice.get("/ui/audit?result=refused")).get_data(as_text=True)
    assert "req-refused" in only and "req-ok" not in only
    bad = await alice.get("/ui/audit?since=yesterday")
    assert bad.status_code == 400
    assert "since" in await bad.get_data(as_text=True)


async def test_an_operator_sees_no_link_and_is_refused(app: Quart, services: Services) -> None:
    bob = await browser(app, services, "bob")
    board = await (await bob.get("/ui/")).get_data(as_text=True)
    assert "/ui/audit" not in board
    refused = await bob.get("/ui/audit")
    assert refused.status_code == 403
    deadline = asyncio.get_running_loop().time() + 5
    while True:
        found = await services.audit.list(AuditFilter(principal="bob"), limit=5, offset=0)
        if found.items:
            break
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)
    assert (found.items[0].action, found.items[0].status) == ("ui.audit", 403)
    assert found.items[0].role == "operator"
