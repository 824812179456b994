"""The optional access log (`[log] access = true`): one line per request, no secrets in it."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from fabro.api.accesslog import AccessLog, printable
from fabro.api.settings import server_configuration
from fabro.app import create_app
from fabro.config import Settings, with_overrides
from fabro.services import Services
from tests.api.runs_helpers import start, wait_for

LINE = re.compile(r"^(\S+) (\S+) (\S+) (\d+\.\d)ms (\S+)$")


@pytest.fixture
async def logged_app(settings: Settings, services: Services) -> AsyncIterator[Quart]:
    application = create_app(with_overrides(settings, access_log=True), services)
    async with application.test_app():
        yield application


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, ...]]:
    found = []
    for record in caplog.records:
        if record.name == "fabro.access":
            assert record.levelno == logging.INFO
            match = LINE.match(record.getMessage())
            assert match, record.getMessage()
            found.append(match.groups()[:3] + match.groups()[4:])
    return found


async def test_one_line_per_request_with_the_login_and_never_a_secret(
    logged_app: Quart, auth_headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    client: Client = logged_app.test_client()
    caplog.set_level(logging.WARNING)  # `[log] level = "warning"`: access lines still come
    caplog.handler.setLevel(logging.NOTSET)  # (the root logger's level is what is tested)
    token = auth_headers["Authorization"].removeprefix("Bearer ")
    run = await start(client, auth_headers)
    await wait_for(client, auth_headers, run["id"], {"completed"})  # the fast lane answers
    caplog.clear()
    await client.get("/health")
    await client.get("/user?token=hunter2&page[limit]=3", headers=auth_headers)
    await client.get(f"/runs/{run['id']}", headers=auth_headers)  # the fast lane
    await client.get("/runs/NOPE", headers=auth_headers)
    await client.get("/user", headers={"Authorization": "Bearer wrong"})
    await client.delete("/runs")
    assert lines(caplog) == [
        ("GET", "/health", "200", "-"),
        ("GET", "/user", "200", "alice"),
        ("GET", f"/runs/{run['id']}", "200", "alice"),
        ("GET", "/runs/NOPE", "404", "alice"),
        ("GET", "/user", "401", "-"),
        ("DELETE", "/runs", "405", "-"),
    ]
    assert token not in caplog.text and "hunter2" not in caplog.text and "wrong" not in caplog.text


async def answer_204(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def discard(message: Any) -> None:
    return None


async def test_a_path_cannot_forge_a_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    forged = "/x\nGET /forged 200 0.1ms root"
    scope = {"type": "http", "method": "GET", "path": forged, "query_string": b"a=secret"}
    await AccessLog(answer_204)(scope, None, discard)  # type: ignore[arg-type]
    scope["raw_path"] = b"/raw%0Apath?b=secret"
    await AccessLog(answer_204)(scope, None, discard)  # type: ignore[arg-type]
    assert lines(caplog) == [
        ("GET", "/x\\x0aGET\\x20/forged\\x20200\\x200.1ms\\x20root", "204", "-"),
        ("GET", "/raw%0Apath", "204", "-"),
    ]
    assert "secret" not in caplog.text
    assert printable("x" * 2000).endswith("x…") and len(printable("x" * 2000)) == 1001


async def test_off_by_default(
    app: Quart, auth_headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await app.test_client().get("/user", headers=auth_headers)
    assert not [record for record in caplog.records if record.name == "fabro.access"]


async def test_the_settings_say_whether_it_is_on(app: Quart, settings: Settings) -> None:
    async with app.app_context():
        for on in (True, False):
            body = server_configuration(with_overrides(settings, access_log=on))
            assert body.log == {"level": "info", "access": on}
