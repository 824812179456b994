"""<data_dir>/server.json: where a local server listens, for the CLI to find it."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from fabro.server_file import (
    listening_url,
    read_server_file,
    remove_server_file,
    server_file,
    write_server_file,
)


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", ""])
    process.wait()
    return process.pid


@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_written_owner_only_and_read_back(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        assert write_server_file(tmp_path, "http://127.0.0.1:4123", os.getpid())
    finally:
        os.umask(old)
    path = server_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"url": "http://127.0.0.1:4123", "pid": os.getpid()}
    record = read_server_file(tmp_path)
    assert record is not None and record.url == "http://127.0.0.1:4123"
    assert [p.name for p in tmp_path.iterdir()] == ["server.json"]  # no temporary file left


def test_a_dead_server_or_a_bad_file_is_ignored(tmp_path: Path) -> None:
    assert read_server_file(tmp_path) is None
    write_server_file(tmp_path, "http://127.0.0.1:1", dead_pid())
    assert read_server_file(tmp_path) is None
    for text in ("not json", "[]", '{"url": 1, "pid": 1}', '{"url": "x", "pid": true}'):
        server_file(tmp_path).write_text(text)
        assert read_server_file(tmp_path) is None


def test_removed_only_by_its_own_server(tmp_path: Path) -> None:
    write_server_file(tmp_path, "http://127.0.0.1:1", os.getpid())
    remove_server_file(tmp_path, os.getpid() + 1)  # another server's shutdown
    assert server_file(tmp_path).exists()
    remove_server_file(tmp_path, os.getpid())
    assert not server_file(tmp_path).exists()
    remove_server_file(tmp_path, os.getpid())  # twice is fine


def test_a_folder_that_cannot_be_written_costs_only_discovery(tmp_path: Path) -> None:
    assert not write_server_file(tmp_path / "missing", "http://127.0.0.1:1", os.getpid())


@pytest.mark.parametrize(
    ("family", "bind", "url"),
    [
        (socket.AF_INET, "127.0.0.1", "http://127.0.0.1:{port}"),
        (socket.AF_INET, "0.0.0.0", "http://127.0.0.1:{port}"),
        (socket.AF_INET6, "::", "http://[::1]:{port}"),
    ],
)
def test_listening_url_reaches_a_wildcard_on_loopback(family: int, bind: str, url: str) -> None:
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError:
        pytest.skip("no IPv6 on this machine")
    with sock:
        try:
            sock.bind((bind, 0))
        except OSError:
            pytest.skip(f"cannot bind {bind}")
        port = sock.getsockname()[1]
        assert listening_url("http", sock) == url.format(port=port)
