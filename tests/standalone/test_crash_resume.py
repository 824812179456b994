"""A `fabro run` killed with SIGKILL mid-workflow resumes without repeating completed stages."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.e2e.serverproc import REPO_ROOT, base_env

STAGES = [f"s{n}" for n in range(1, 9)]


def workflow(witness: Path) -> str:
    nodes = "\n".join(
        f'  {s} [shape=parallelogram, script="echo {s} >> {witness}; sleep 0.4"]' for s in STAGES
    )
    chain = " -> ".join(["start", *STAGES, "exit"])
    return (
        "digraph Crash {\n  start [shape=Mdiamond]\n  exit [shape=Msquare]\n"
        f"{nodes}\n  {chain}\n}}\n"
    )


def fabro(args: list[str], home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "fabro", "run", *args],
        cwd=REPO_ROOT,
        env=base_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkill_then_resume_runs_each_completed_stage_once(tmp_path: Path) -> None:
    witness = tmp_path / "witness"
    flow = tmp_path / "crash.dot"
    flow.write_text(workflow(witness), encoding="utf-8")
    data = tmp_path / "data"

    first = fabro([str(flow), "--data-dir", str(data)], tmp_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if witness.exists() and len(witness.read_text().split()) >= 3:
            break
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    _, stderr = first.communicate(timeout=10)
    assert first.returncode == -signal.SIGKILL
    run_id = re.search(r"Run: (\w{26})", stderr)
    assert run_id, stderr
    before = witness.read_text().split()
    assert 3 <= len(before) < len(STAGES)

    second = fabro(["--resume", run_id[1], "--data-dir", str(data)], tmp_path)
    _, stderr = second.communicate(timeout=60)
    assert second.returncode == 0, stderr
    assert "Run completed in" in stderr

    counts = Counter(witness.read_text().split())
    assert set(counts) == set(STAGES)
    twice = [stage for stage, n in counts.items() if n > 1]
    # Only the stage that was running when the process died may run again, and at most once more.
    assert all(counts[stage] <= 2 for stage in STAGES)
    assert len(twice) <= 1
    if twice:
        assert twice[0] == before[-1]


def test_resume_refuses_a_run_whose_process_is_alive(tmp_path: Path) -> None:
    flow = tmp_path / "slow.dot"
    flow.write_text(
        'digraph S { start [shape=Mdiamond]; w [shape=parallelogram, script="sleep 20"];'
        " exit [shape=Msquare]; start -> w -> exit }",
        encoding="utf-8",
    )
    data = tmp_path / "data"
    first = fabro([str(flow), "--data-dir", str(data)], tmp_path)
    try:
        run_id = None
        deadline = time.monotonic() + 30
        assert first.stderr is not None
        while run_id is None and time.monotonic() < deadline:
            line = first.stderr.readline()
            match = re.search(r"Run: (\w{26})", line)
            run_id = match[1] if match else None
        assert run_id
        time.sleep(0.5)
        second = fabro(["--resume", run_id, "--data-dir", str(data)], tmp_path)
        _, stderr = second.communicate(timeout=30)
        assert second.returncode == 2
        assert f"error: Run {run_id} is still running in process {first.pid}." in stderr
    finally:
        first.send_signal(signal.SIGINT)
        _, rest = first.communicate(timeout=30)
    assert first.returncode == 130, rest
    assert f"Run interrupted; resume with: fabro run --resume {run_id}" in rest


def test_resume_stops_the_program_a_killed_run_left_running(tmp_path: Path) -> None:
    # The first execution records its pid and sleeps; the re-run after resume finishes at once.
    pids = tmp_path / "pids.txt"
    script = f"echo $$ >> {pids}; if [ $(wc -l < {pids}) -gt 1 ]; then exit 0; fi; sleep 60"
    flow = tmp_path / "orphan.dot"
    flow.write_text(
        "digraph Orphan {\n  start [shape=Mdiamond]\n  exit [shape=Msquare]\n"
        f'  long [shape=parallelogram, script="{script}"]\n  start -> long -> exit\n}}\n',
        encoding="utf-8",
    )
    data = tmp_path / "data"
    first = fabro([str(flow), "--data-dir", str(data)], tmp_path)
    deadline = time.monotonic() + 30
    while not (pids.exists() and pids.read_text().strip()):
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    _, stderr = first.communicate(timeout=10)
    run_id = re.search(r"Run: (\w{26})", stderr)
    assert run_id, stderr
    orphan = int(pids.read_text().split()[0])
    assert alive(orphan), "a SIGKILLed fabro run leaves its command's process group running"

    second = fabro(["--resume", run_id[1], "--data-dir", str(data)], tmp_path)
    _, stderr = second.communicate(timeout=60)
    assert second.returncode == 0, stderr
    deadline = time.monotonic() + 5
    while alive(orphan):
        assert time.monotonic() < deadline, "the orphaned command still runs after resume"
        time.sleep(0.05)
    assert not list((data / "runs" / run_id[1] / "pids").iterdir())


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; it only waits to be reaped
