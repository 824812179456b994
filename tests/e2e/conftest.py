"""End-to-end fixtures: real `fabro serve` subprocesses, always stopped in the finalizer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.serverproc import ServerProcess, start_server

StartServer = Callable[..., ServerProcess]


@pytest.fixture
def fabro_server(tmp_path: Path) -> Iterator[StartServer]:
    """Start servers with ``fabro_server(config=..., env=..., ...)`` (see start_server)."""
    started: list[ServerProcess] = []
    count = 0

    def start(**kwargs: Any) -> ServerProcess:
        nonlocal count
        count += 1
        workdir = kwargs.pop("workdir", None) or tmp_path / f"server{count}"
        server = start_server(workdir, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
