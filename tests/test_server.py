"""`serve()` in this process: what it leaves behind when startup fails after binding."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import pytest

from fabro import server
from fabro.config import Settings
from tests.e2e.serverproc import free_port


async def test_a_startup_that_fails_after_binding_closes_the_listening_socket(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    settings = dataclasses.replace(settings, port=port)

    def unwritable(data_dir: Path, url: str, pid: int) -> None:
        raise PermissionError(13, "Permission denied", str(data_dir / "server.json"))

    monkeypatch.setattr(server, "write_server_file", unwritable)
    with pytest.raises(PermissionError):
        await server.serve(settings, env={"HOME": str(settings.data_dir.parent)})
    with socket.socket() as again:  # fails with "Address already in use" if it was left open
        again.bind(("127.0.0.1", port))
