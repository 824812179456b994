"""Shared fixtures: real settings from a real server.toml, real keys, real JWTs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator
from pathlib import Path

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from fabro.app import create_app
from fabro.auth.keys import ensure_key_pair, mint_token
from fabro.config import Settings, load_settings
from fabro.services import Services
from tests import alone, shared_dir

USER = "alice"
NOT_RUN = pytest.StashKey[int]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", shared_dir.MARK_HELP)
    config.addinivalue_line("markers", alone.MARK_HELP)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    """Under pytest-xdist, each test from its setup to its teardown (module fixtures included)
    holds the run's lock: shared, or exclusive for the `alone` ones (tests/alone.py)."""
    if not alone.under_xdist():
        return (yield)
    # The directory every worker of this run shares (each one's base temp is a child of it).
    directory = item.config._tmp_path_factory.getbasetemp().parent  # type: ignore[attr-defined]
    with alone.holding(directory, alone=item.get_closest_marker(alone.MARK) is not None):
        return (yield)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without ../shared, deselect the tests that compare fabro with it (one line says so)."""
    if shared_dir.PRESENT:
        return
    missing = [item for item in items if item.get_closest_marker(shared_dir.MARK)]
    if missing:
        config.hook.pytest_deselected(items=missing)
        items[:] = [item for item in items if not item.get_closest_marker(shared_dir.MARK)]
        config.stash[NOT_RUN] = len(missing)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    if count := config.stash.get(NOT_RUN, 0):
        terminalreporter.write_line(shared_dir.missing_line(count))


def write_config(directory: Path, extra: str = "") -> Path:
    """A server.toml with JWT authentication for `alice`, data kept under ``directory``."""
    path = directory / "server.toml"
    path.write_text(
        f'data_dir = "{directory / "data"}"\n'
        "[api]\n"
        'authentication_strategies = ["jwt"]\n'
        "[web.auth]\n"
        f'allowed_usernames = ["{USER}"]\n' + extra,
        encoding="utf-8",
    )
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    ensure_key_pair(tmp_path / "data" / "keys")
    return load_settings(write_config(tmp_path), env={"HOME": str(tmp_path)}).settings


@pytest.fixture
def make_token(settings: Settings) -> Callable[..., str]:
    key = ensure_key_pair(settings.keys_dir)

    def make(user: str = USER, ttl_s: int = 3600) -> str:
        return mint_token(key, subject=user, issuer=settings.api.jwt.issuer, ttl_s=ttl_s)

    return make


@pytest.fixture
def auth_headers(make_token: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token()}"}


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    opened = await Services.open(settings, env={"HOME": str(settings.data_dir.parent)})
    await opened.start()
    yield opened
    await opened.close()


@pytest.fixture
async def app(settings: Settings, services: Services) -> AsyncIterator[Quart]:
    application = create_app(settings, services)
    async with application.test_app():
        yield application


@pytest.fixture
def client(app: Quart) -> Client:
    return app.test_client()
