"""What `fabro run` shows of failures and of command output (a real `fabro run` process)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from fabro.standalone.failures import stage_report
from fabro.storage.stages import StageRecord
from tests.e2e.serverproc import REPO_ROOT, base_env

SECRET = "t0ken-value-long-enough"
SCRIPT = "for i in $(seq 1 30); do echo line$i; done; echo broken >&2; exit 2"
FAILING = f"""digraph Failing {{
  start [shape=Mdiamond]
  build [shape=parallelogram, script="{SCRIPT}"]
  report [shape=parallelogram, script="true"]
  exit [shape=Msquare]
  start -> build
  build -> report [condition="outcome=fail"]
  build -> exit
  report -> exit
}}
"""
BRANCHES = """digraph Branches {
  start [shape=Mdiamond]
  fan [shape=component]
  a [shape=parallelogram, script="echo out-a; echo err-a >&2; exit 3"]
  b [shape=parallelogram, script="echo err-b >&2; exit 4"]
  c [shape=parallelogram, script="echo fine"]
  join [shape=tripleoctagon]
  exit [shape=Msquare]
  start -> fan
  fan -> a
  fan -> b
  fan -> c
  a -> join
  b -> join
  c -> join
  join -> exit
}
"""
# `first` is printed, then the program waits for the test to answer it: only output shown
# while the program runs lets the run finish (else the program gives up after 20 s).
TALK = (
    "echo first; echo {secret}; echo oops >&2; "
    "for i in $(seq 1 200); do test -e {flag} && break; sleep 0.1; done; "
    "test -e {flag} && echo second"
)
LIVE = f"""digraph Live {{{{
  start [shape=Mdiamond]
  talk [shape=parallelogram, script="{TALK}"]
  exit [shape=Msquare]
  start -> talk -> exit
}}}}
"""


def fabro_run(tmp_path: Path, source: str, *args: str) -> subprocess.CompletedProcess[str]:
    flow = tmp_path / "flow.dot"
    flow.write_text(source, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "fabro", "run", str(flow), "--data-dir", str(tmp_path / "d"), *args],
        cwd=REPO_ROOT,
        env=base_env(tmp_path),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_failed_command_shows_its_reason_and_last_lines(tmp_path: Path) -> None:
    done = fabro_run(tmp_path, FAILING)
    err = done.stderr
    assert "Stage build (build) failed: Script failed with exit code: 2" in err
    report = err[err.index("Stage build (build) failed") :]
    assert "  stdout, last 20 lines (all: " in report and "nodes/build/stdout.log):" in report
    shown = [line.strip() for line in report.splitlines() if line.startswith("    line")]
    assert shown == [f"line{i}" for i in range(11, 31)]
    assert "  stderr:\n    broken\n" in report
    assert "[build]" not in err  # output is streamed only with --verbose


def test_every_failed_parallel_branch_is_shown(tmp_path: Path) -> None:
    err = fabro_run(tmp_path, BRANCHES).stderr
    a = err.index("Stage a (a) failed: Script failed with exit code: 3")
    b = err.index("Stage b (b) failed: Script failed with exit code: 4")
    assert "  stdout:\n    out-a\n  stderr:\n    err-a\n" in err[a:b]
    assert "  stderr:\n    err-b\n" in err[b:]
    assert "Stage c (c)" not in err


def test_verbose_streams_command_output_live_with_the_stage_id(tmp_path: Path) -> None:
    flag = tmp_path / "answer"
    flow = tmp_path / "flow.dot"
    flow.write_text(LIVE.format(secret=SECRET, flag=flag), encoding="utf-8")
    command = [sys.executable, "-m", "fabro", "run", str(flow), "-v"]
    command += ["--data-dir", str(tmp_path / "d")]
    env = {**base_env(tmp_path), "DEPLOY_TOKEN": SECRET}
    lines: list[str] = []
    with subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    ) as process:
        assert process.stderr is not None
        watchdog = threading.Timer(60, process.kill)  # a hung run ends the read below
        watchdog.start()
        try:
            for line in process.stderr:
                lines.append(line)
                if line.rstrip().endswith("[talk] first"):
                    flag.touch()  # seen while the program still runs
        finally:
            watchdog.cancel()
            process.kill()
    text = "".join(lines)
    assert "  [talk] first\n" in text and "  [talk] second\n" in text, text
    assert "  [talk:stderr] oops\n" in text
    assert "  [talk] [REDACTED]\n" in text and SECRET not in text


def test_a_failure_without_program_output_shows_its_message(tmp_path: Path) -> None:
    outcome = {"status": "fail", "failure": {"message": "LLM error: quota\nretry after 10 s"}}
    stage = StageRecord("R", "plan", "plan", "Plan", 1, 0, "failed", "t", outcome=outcome)
    assert stage_report(stage, tmp_path) == [
        "Stage Plan (plan) failed: LLM error: quota",
        "    retry after 10 s",
    ]
