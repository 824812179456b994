"""Finding 12: the data folder (0700), the database and its -wal/-shm (0600), the private key
(0600) and the runs folders (0700) are the owner's alone, whatever the umask and whoever made
the folder around them. Servers and `fabro run` are started with umask 000, the worst case.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from fabro.storage.db import Database
from tests.e2e.runs_support import start_run, wait_for_status
from tests.e2e.serverproc import REPO_ROOT, ServerProcess, base_env, start_server

COMMAND_DOT = """digraph Modes {
  start [shape=Mdiamond]
  work [shape=parallelogram, script="echo hi > out.txt"]
  exit [shape=Msquare]
  start -> work -> exit
}"""


def mode(path: Path) -> str:
    return f"{stat.S_IMODE(path.stat().st_mode):04o}"


@contextmanager
def umask(value: int) -> Iterator[None]:
    """Processes started within inherit ``value`` as their umask."""
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def zero_config_token(server: ServerProcess) -> str:
    lines = [line.strip() for line in server.stdout.splitlines()]
    return next(line for line in lines if line.startswith("eyJ"))


def database_modes(data: Path, name: str = "fabro.db") -> dict[str, str]:
    return {suffix: mode(data / f"{name}{suffix}") for suffix in ("", "-wal", "-shm")}


def test_a_first_start_under_umask_000_keeps_every_file_private(tmp_path: Path) -> None:
    data = tmp_path / "made" / "by" / "fabro"  # three folders fabro creates
    with umask(0):
        server = start_server(tmp_path / "server", data_dir=data)  # zero-config: keys too
    try:
        with server.client(token=zero_config_token(server)) as http:
            run_id = start_run(http, COMMAND_DOT)
            assert wait_for_status(http, run_id, {"completed", "failed"})["status"] == "completed"
            # Open while the server runs: the -wal and -shm exist.
            assert database_modes(data) == {"": "0600", "-wal": "0600", "-shm": "0600"}
    finally:
        server.stop()
    assert [mode(folder) for folder in (tmp_path / "made", data.parent, data)] == ["0700"] * 3
    assert mode(data / "keys") == "0700"
    assert mode(data / "keys" / "jwt_ed25519.pem") == "0600"
    assert mode(data / "runs") == "0700"
    assert mode(data / "runs" / run_id) == "0700"


def test_a_folder_open_to_everyone_gets_a_private_database_and_a_warning(tmp_path: Path) -> None:
    data = tmp_path / "shared"
    data.mkdir()
    data.chmod(0o777)  # made by someone else, under umask 000
    with umask(0):
        server = start_server(tmp_path / "server", data_dir=data)
    try:
        assert database_modes(data) == {"": "0600", "-wal": "0600", "-shm": "0600"}
        assert mode(data / "runs") == "0700"
    finally:
        server.stop()
    assert mode(data) == "0777"  # not fabro's to change; the operator is told instead
    assert f"data folder {data} is open to other users (mode 0777)" in server.stderr


def test_fabro_run_under_umask_000_keeps_its_database_and_runs_private(tmp_path: Path) -> None:
    flow = tmp_path / "flow.dot"
    flow.write_text(COMMAND_DOT, encoding="utf-8")
    data = tmp_path / "local" / "data"
    command = [sys.executable, "-m", "fabro", "run", str(flow), "--data-dir", str(data)]
    (tmp_path / "home").mkdir()
    env = base_env(tmp_path / "home")
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, umask=0, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert mode(data / "local.db") == "0600"
    assert [mode(folder) for folder in (data.parent, data, data / "runs")] == ["0700"] * 3
    (run_dir,) = (data / "runs").iterdir()
    assert mode(run_dir) == "0700"


async def test_a_database_an_older_version_left_readable_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "fabro.db"
    with umask(0o022), closing(sqlite3.connect(path)) as conn:  # 0644, as before the fix
        conn.execute("PRAGMA journal_mode = WAL")
    assert mode(path) == "0644"
    db = await Database.open(path)
    try:
        assert database_modes(tmp_path) == {"": "0600", "-wal": "0600", "-shm": "0600"}
    finally:
        await db.close()
