"""Programs left by a dead server: which recorded process groups a resumed run kills."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fabro.engine.orphans import PIDS_DIR, ProcessRecord, kill_orphans


@pytest.fixture
def sleepers() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def sleeper(started: list[subprocess.Popen[bytes]], run_id: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FABRO_RUN_ID": run_id}
    process = subprocess.Popen(["sleep", "30"], env=env, start_new_session=True)
    started.append(process)
    # Until it execs, the child still shows this process's environment in /proc.
    environ = Path(f"/proc/{process.pid}/environ")
    deadline = time.monotonic() + 5
    while f"FABRO_RUN_ID={run_id}".encode() not in environ.read_bytes():
        assert time.monotonic() < deadline, "sleep never started"
        time.sleep(0.01)
    return process


def recorded_by_a_dead_server(run_dir: Path, pid: int) -> None:
    (run_dir / PIDS_DIR).mkdir(parents=True, exist_ok=True)
    (run_dir / PIDS_DIR / str(pid)).write_text("999999999")  # no such process


def gone(process: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + 5
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return process.poll() is not None


def test_a_program_of_this_run_left_by_a_dead_server_is_killed(
    tmp_path: Path, sleepers: list[subprocess.Popen[bytes]]
) -> None:
    orphan = sleeper(sleepers, "RUN1")
    recorded_by_a_dead_server(tmp_path, orphan.pid)
    assert kill_orphans(tmp_path, "RUN1") == 1
    assert gone(orphan)
    assert not list((tmp_path / PIDS_DIR).iterdir())


def test_a_recycled_pid_of_another_program_is_left_alone(
    tmp_path: Path, sleepers: list[subprocess.Popen[bytes]]
) -> None:
    stranger = sleeper(sleepers, "OTHER-RUN")
    recorded_by_a_dead_server(tmp_path, stranger.pid)
    assert kill_orphans(tmp_path, "RUN1") == 0
    assert stranger.poll() is None
    assert not list((tmp_path / PIDS_DIR).iterdir())  # the stale record is dropped


def test_programs_this_process_started_are_not_orphans(
    tmp_path: Path, sleepers: list[subprocess.Popen[bytes]]
) -> None:
    mine = sleeper(sleepers, "RUN1")
    record = ProcessRecord.create(tmp_path, mine.pid)
    assert kill_orphans(tmp_path, "RUN1") == 0
    assert mine.poll() is None and record.path.exists()
    record.remove()
    record.remove()  # twice is fine


def test_no_records_no_work(tmp_path: Path) -> None:
    assert kill_orphans(tmp_path, "RUN1") == 0
