"""The audit log over HTTP: what a request leaves in it (a run start, an answer, a 401, a 403,
a UI sign-in and sign-out, but no read), the request id every response carries, and
`GET /audit-logs` (admin; filtered, newest first)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from quart.typing import TestClientProtocol as Client

from fabro.auth.keys import ensure_key_pair
from fabro.auth.signin_links import signin_link
from fabro.config import Settings, load_settings
from tests.api.envelope import assert_envelope
from tests.api.runs_helpers import GATED, start, wait_for_question

DEADLINE_S = 10.0


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """alice is admin, bob a viewer."""
    ensure_key_pair(tmp_path / "data" / "keys")
    path = tmp_path / "server.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        '[api]\nauthentication_strategies = ["jwt"]\n'
        '[web.auth]\nallowed_usernames = ["alice", "bob"]\n'
        '[roles]\nadmin = ["alice"]\nviewer = ["bob"]\n',
        encoding="utf-8",
    )
    return load_settings(path, env={"HOME": str(tmp_path)}).settings


async def records(
    client: Client, headers: dict[str, str], wanted: int, query: str = ""
) -> list[dict[str, Any]]:
    """The audit log's records (newest first) once it holds ``wanted`` of them: records are
    queued, not waited for, so they show up a moment after the response."""
    deadline = asyncio.get_running_loop().time() + DEADLINE_S
    while True:
        response = await client.get(f"/audit-logs?page[limit]=100{query}", headers=headers)
        assert response.status_code == 200, await response.get_data(as_text=True)
        data: list[dict[str, Any]] = (await response.get_json())["data"]
        if len(data) >= wanted:
            return data
        assert asyncio.get_running_loop().time() < deadline, data
        await asyncio.sleep(0.02)


async def test_acting_requests_and_refusals_are_recorded_and_reads_are_not(
    client: Client, make_token: Callable[..., str]
) -> None:
    alice = {"Authorization": f"Bearer {make_token('alice')}"}
    bob = {"Authorization": f"Bearer {make_token('bob')}"}
    run = await start(client, alice, GATED)
    question = await wait_for_question(client, alice, run["id"])
    answer = await client.post(
        f"/runs/{run['id']}/questions/{question['id']}/answer",
        json={"selected_option_key": "A"},
        headers=alice,
    )
    assert answer.status_code == 204
    refused = await client.post("/runs", json={"dot_source": GATED}, headers=bob)
    assert refused.status_code == 403
    anonymous = await client.post("/runs", json={"dot_source": GATED})
    assert anonymous.status_code == 401
    assert (await client.get(f"/runs/{run['id']}/questions", headers=alice)).status_code == 200

    found = await records(client, alice, 4)
    assert [(r["action"], r["principal"], r["result"], r["status"]) for r in found] == [
        ("startRun", None, "refused", 401),
        ("startRun", "bob", "refused", 403),
        ("submitRunAnswer", "alice", "ok", 204),
        ("startRun", "alice", "ok", 201),
    ]
    newest = found[0]
    assert newest["role"] is None and newest["method"] == "POST" and newest["target"] == "/runs"
    assert newest["request_id"] == anonymous.headers["X-Request-Id"]
    assert found[1]["role"] == "viewer" and found[2]["role"] == "admin"
    assert found[2]["target"].endswith("/answer") and found[2]["client"]
    assert [r["seq"] for r in found] == sorted((r["seq"] for r in found), reverse=True)

    # Filters; a viewer is refused the log itself, and that refusal is recorded too.
    by_bob = await records(client, alice, 1, "&principal=bob")
    assert [r["status"] for r in by_bob] == [403]
    ok = await records(client, alice, 2, "&result=ok")
    assert {r["action"] for r in ok} == {"startRun", "submitRunAnswer"}
    assert len(await records(client, alice, 1, "&action=submitRunAnswer")) == 1
    assert await records(client, alice, 0, "&since=2999-01-01T00:00:00Z") == []
    assert (await client.get("/audit-logs", headers=bob)).status_code == 403
    assert (await records(client, alice, 5))[0]["action"] == "listAuditLogs"


async def test_the_web_ui_records_sign_in_and_sign_out(
    client: Client, settings: Settings, make_token: Callable[..., str]
) -> None:
    key = ensure_key_pair(settings.keys_dir)
    link = signin_link(key, "http://localhost", subject="alice", issuer=settings.api.jwt.issuer)
    parts = urlsplit(link)
    signed_in = await client.get(f"{parts.path}?{parts.query}")
    assert signed_in.status_code == 303
    board = await client.get("/ui/")
    page = await board.get_data(as_text=True)
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert csrf is not None
    out = await client.post("/ui/signout", form={"csrf_token": csrf.group(1)})
    assert out.status_code == 303
    reused = await client.get(f"{parts.path}?{parts.query}")  # a link works once
    assert reused.status_code == 401

    alice = {"Authorization": f"Bearer {make_token('alice')}"}
    found = await records(client, alice, 3)
    assert [(r["action"], r["principal"], r["result"]) for r in found] == [
        ("ui.signin_link", None, "refused"),
        ("ui.signout", "alice", "ok"),
        ("ui.signin.link", "alice", "ok"),
    ]
    assert found[2]["method"] == "GET" and found[2]["target"] == "/ui/signin/link"


async def test_every_response_carries_a_request_id(
    client: Client, auth_headers: dict[str, str]
) -> None:
    mine = await client.get("/health", headers={"X-Request-Id": "trace-42.a"})
    assert mine.headers["X-Request-Id"] == "trace-42.a"
    for bad in ("", "x" * 129, "two words", "new\u00e9"):
        fresh = await client.get("/health", headers={"X-Request-Id": bad})
        assert re.fullmatch(r"[0-9A-Z]{26}", fresh.headers["X-Request-Id"]), bad
    one = (await client.get("/health")).headers["X-Request-Id"]
    two = (await client.get("/health")).headers["X-Request-Id"]
    assert one != two


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("result=maybe", "result"),
        ("since=yesterday", "since"),
        ("until=2026-01-01T00:00:00", "until"),
        ("principal=" + "p" * 201, "principal"),
    ],
)
async def test_a_bad_filter_is_a_400_naming_it(
    client: Client, make_token: Callable[..., str], query: str, field: str
) -> None:
    alice = {"Authorization": f"Bearer {make_token('alice')}"}
    response = await client.get(f"/audit-logs?{query}", headers=alice)
    assert response.status_code == 400
    assert_envelope(await response.get_json(), 400)
    assert f"'{field}'" in (await response.get_json())["errors"][0]["detail"]


async def test_the_chain_of_the_log_verifies(
    client: Client, make_token: Callable[..., str]
) -> None:
    alice = {"Authorization": f"Bearer {make_token('alice')}"}
    await client.post("/runs", json={"dot_source": "digraph {"}, headers=alice)  # 400: failed
    found = await records(client, alice, 1)
    assert found[0]["result"] == "failed"
    report = await (await client.get("/audit-logs/verify", headers=alice)).get_json()
    assert report["ok"] is True and report["entries_checked"] >= 1
