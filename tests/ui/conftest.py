"""UI fixtures: a real app whose test client holds a signed-in session for ``alice``."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from fabro.clock import format_ts
from fabro.services import Services
from fabro.storage.ui_sessions import UiSession
from fabro.ui.auth import COOKIE
from tests.conftest import USER


async def open_session(services: Services, login: str = USER) -> str:
    """A live session for ``login`` opened as the sign-in routes open one; its cookie value."""
    cookie = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    await services.ui_sessions.open(
        UiSession(
            id_hash=hashlib.sha256(cookie.encode()).hexdigest(),
            login=login,
            method="token",
            created_at=format_ts(now),
            expires_at=format_ts(now + timedelta(hours=1)),
        )
    )
    return cookie


def csrf_of(cookie: str) -> str:
    """The CSRF token the pages give a session with this cookie (tests compute it the way a
    form receives it, independently of fabro.ui.auth)."""
    return hmac.new(cookie.encode(), b"fabro-ui-csrf", "sha256").hexdigest()


@pytest.fixture
async def ui_cookie(services: Services) -> str:
    return await open_session(services)


@pytest.fixture
def ui_csrf(ui_cookie: str) -> str:
    return csrf_of(ui_cookie)


@pytest.fixture
def ui_client(app: Quart, ui_cookie: str) -> Client:
    client = app.test_client()
    client.set_cookie("localhost", COOKIE, ui_cookie)
    return client
