"""UI fixtures: a real app whose test client holds a signed-in session for ``alice``."""

from __future__ import annotations

import hmac

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from fabro.services import Services
from fabro.ui import auth
from fabro.ui.auth import COOKIE
from tests.conftest import USER


async def open_session(services: Services, login: str = USER) -> str:
    """A live session for ``login``, opened as the sign-in routes open one; its cookie."""
    cookie, _session = await auth.open_session(services.ui_sessions, login, "token")
    return cookie


def csrf_of(cookie: str) -> str:
    """The CSRF token the pages give a session with this cookie, computed here as a form
    receives it (independently of fabro.ui.auth, so a change there shows in the tests)."""
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
