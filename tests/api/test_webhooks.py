"""Webhook subscriptions over HTTP: the secret shown once, changes, deletion, the delivery log
and redelivery's 404s, and a 400 naming the field for each bad request. (Each route's role is
checked with every other route's in tests/api/test_role_table.py.)"""

from __future__ import annotations

import logging
import stat
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from fabro.services import Services
from tests.api.envelope import assert_envelope

HOOK = {"url": "http://127.0.0.1:9/fabro", "event_types": ["run.completed"]}


async def create(client: Client, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    answer = await client.post("/webhooks", json={**HOOK, **extra}, headers=headers)
    assert answer.status_code == 201, await answer.get_data(as_text=True)
    assert answer.headers["Location"] == f"/webhooks/{(await answer.get_json())['id']}"
    return await answer.get_json()  # type: ignore[no-any-return]


async def test_the_secret_is_shown_once_and_never_again(
    client: Client,
    auth_headers: dict[str, str],
    services: Services,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    created = await create(client, auth_headers, workflow="release", labels={"team": "web"})
    secret = created.pop("secret")
    assert secret.startswith("whsec_") and len(secret) == 6 + 64
    assert created["url"] == HOOK["url"] and created["event_types"] == ["run.completed"]
    assert created["workflow"] == "release" and created["labels"] == {"team": "web"}
    assert created["enabled"] is True and created["disabled_reason"] is None
    assert created["created_by"] == "alice"
    path = f"/webhooks/{created['id']}"
    assert (await (await client.get(path, headers=auth_headers)).get_json()) == created
    texts = [
        await (await client.get(path, headers=auth_headers)).get_data(as_text=True),
        await (await client.get("/webhooks", headers=auth_headers)).get_data(as_text=True),
        await (await client.post(f"{path}/test", headers=auth_headers)).get_data(as_text=True),
        await (await client.get(f"{path}/deliveries", headers=auth_headers)).get_data(as_text=True),
    ]
    assert all(secret not in text and '"secret"' not in text for text in texts)
    assert secret not in caplog.text
    # Sealed at rest under a key file only the server's user can read.
    db = services.settings.db_path
    stored = b"".join(p.read_bytes() for p in (db, db.with_name(db.name + "-wal")) if p.exists())
    assert secret.encode() not in stored and b"whsec_" not in stored
    key = services.settings.data_dir / "keys" / "webhooks.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


async def test_a_patch_changes_what_it_names(client: Client, auth_headers: dict[str, str]) -> None:
    created = await create(client, auth_headers, workflow="release", labels={"team": "web"})
    path = f"/webhooks/{created['id']}"
    changed = await client.patch(
        path,
        json={"url": "http://10.0.0.5:8080/in", "event_types": ["run.failed", "run.failed"]},
        headers=auth_headers,
    )
    body = await changed.get_json()
    assert changed.status_code == 200, body
    assert body["url"] == "http://10.0.0.5:8080/in" and body["event_types"] == ["run.failed"]
    assert body["workflow"] == "release"  # unchanged
    cleared = await client.patch(path, json={"workflow": "", "labels": {}}, headers=auth_headers)
    assert (await cleared.get_json())["workflow"] is None
    off = await client.patch(path, json={"enabled": False}, headers=auth_headers)
    assert (await off.get_json())["disabled_reason"] == "disabled by a user"
    on = await client.patch(path, json={"enabled": True}, headers=auth_headers)
    assert (await on.get_json())["enabled"] is True


async def test_list_is_paged_newest_first(client: Client, auth_headers: dict[str, str]) -> None:
    ids = [(await create(client, auth_headers))["id"] for _ in range(3)]
    page = await (await client.get("/webhooks?page[limit]=2", headers=auth_headers)).get_json()
    assert [item["id"] for item in page["data"]] == ids[::-1][:2]
    assert page["meta"]["has_more"] is True


async def test_delete_then_everything_is_404(client: Client, auth_headers: dict[str, str]) -> None:
    created = await create(client, auth_headers)
    path = f"/webhooks/{created['id']}"
    delivery = await (await client.post(f"{path}/test", headers=auth_headers)).get_json()
    gone = await client.delete(path, headers=auth_headers)
    assert gone.status_code == 204
    for method, url in (
        ("GET", path),
        ("PATCH", path),
        ("DELETE", path),
        ("POST", f"{path}/test"),
        ("GET", f"{path}/deliveries"),
        ("POST", f"{path}/deliveries/{delivery['id']}/redeliver"),
    ):
        answer = await client.open(url, method=method, json={}, headers=auth_headers)
        assert answer.status_code == 404, (method, url)
        assert_envelope(await answer.get_json(), 404, "Webhook not found.")


async def test_redelivering_an_unknown_delivery_is_404(
    client: Client, auth_headers: dict[str, str]
) -> None:
    created = await create(client, auth_headers)
    answer = await client.post(
        f"/webhooks/{created['id']}/deliveries/nope/redeliver", headers=auth_headers
    )
    assert_envelope(await answer.get_json(), 404, "Delivery not found.")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("file:///etc/passwd", "must be an http or https URL"),
        ("ftp://files.example.com/in", "must be an http or https URL"),
        ("javascript:alert(1)", "must be an http or https URL"),
        ("hooks.example.com/in", "must be an http or https URL"),
        ("http:///in", "must name a host"),
        ("https://user:pw@hooks.example.com/", "must not carry a user name or password"),
        ("https://hooks.example.com/#top", "must not have a #fragment"),
        ("http://hooks.example.com:99999/", "is not a valid URL"),
        ("http://hooks.example.com/a b", "must not contain spaces or control characters"),
        ("https://hooks.example.com/" + "a" * 2100, "must be at most 2048 characters"),
    ],
)
async def test_a_url_that_is_not_http_with_a_host_is_refused(
    client: Client, auth_headers: dict[str, str], url: str, why: str
) -> None:
    answer = await client.post("/webhooks", json={**HOOK, "url": url}, headers=auth_headers)
    if len(url) > 2048:
        assert answer.status_code == 400  # the body's own length limit names the field
        assert "url" in (await answer.get_json())["errors"][0]["detail"]
        return
    assert_envelope(await answer.get_json(), 400, f"Field 'url' {why}.")
    created = await create(client, auth_headers)
    patched = await client.patch(
        f"/webhooks/{created['id']}", json={"url": url}, headers=auth_headers
    )
    assert_envelope(await patched.get_json(), 400, f"Field 'url' {why}.")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": HOOK["url"]}, "event_types"),
        ({**HOOK, "event_types": []}, "event_types"),
        ({**HOOK, "event_types": ["run.exploded"]}, "event_types"),
        ({**HOOK, "labels": {"bad key!": "x"}}, "labels"),
        ({**HOOK, "workflow": 7}, "workflow"),
        ({"event_types": ["run.failed"]}, "url"),
    ],
)
async def test_a_bad_body_is_a_400_naming_the_field(
    client: Client, auth_headers: dict[str, str], body: dict[str, Any], field: str
) -> None:
    answer = await client.post("/webhooks", json=body, headers=auth_headers)
    payload = await answer.get_json()
    assert_envelope(payload, 400)
    assert field in payload["errors"][0]["detail"]


async def test_the_key_file_is_made_with_the_first_webhook(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    key = services.settings.data_dir / "keys" / "webhooks.key"
    assert not key.exists()  # a server without webhooks makes none
    await create(client, auth_headers)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
