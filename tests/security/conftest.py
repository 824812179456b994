"""Fixtures of the attack suite: the authentication fixtures, and one real server per module.

The attacker of every test here holds a valid token (or certificate) for "alice": that means
"may run workflows", never "may read the server's files", "may freeze the server" or "may
become another user".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.auth.conftest import certs, data_dir, make_settings, signing_key
from tests.e2e.runs_support import jwt_server
from tests.e2e.serverproc import ServerProcess
from tests.engine.conftest import harness
from tests.llm.conftest import fake

__all__ = [
    "Attacked",
    "attacked",
    "certs",
    "data_dir",
    "fake",
    "harness",
    "make_settings",
    "signing_key",
]


@dataclass(frozen=True)
class Attacked:
    """A real `fabro serve` with JWT for alice, and alice's token."""

    server: ServerProcess
    token: str

    def client(self, **headers: str) -> httpx.Client:
        http = self.server.client(token=self.token)
        http.headers.update(headers)
        return http


@pytest.fixture(scope="module")
def attacked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Attacked]:
    base = tmp_path_factory.mktemp("attacked")
    server, token = jwt_server(None, base / "server", base / "data")
    try:
        yield Attacked(server, token)
    finally:
        server.stop()
