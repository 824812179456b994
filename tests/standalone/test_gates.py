"""Human gates in a real `fabro run` process: piped answers, closed stdin, Ctrl-C.

An unanswered gate fails closed (engine.md §9.4): the run fails naming the gate, and no
stage behind the gate runs. Ctrl-C at a prompt ends the process at once with status 130.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.serverproc import REPO_ROOT, base_env

# Two gates; each stage behind a gate records its name in `ran` (in the run's folder).
FLOW = """digraph Gates {
  start   [shape=Mdiamond]
  approve [shape=hexagon, label="Ship it?"]
  ship    [shape=parallelogram, script="echo ship >> %(ran)s"]
  stop    [shape=parallelogram, script="echo stop >> %(ran)s"]
  confirm [shape=hexagon, label="Tag it?"]
  tag     [shape=parallelogram, script="echo tag >> %(ran)s"]
  exit    [shape=Msquare]
  start -> approve
  approve -> ship [label="[Y] Yes"]
  approve -> stop [label="N) No"]
  ship -> confirm
  confirm -> tag  [label="[T] Tag"]
  confirm -> exit [label="[S] Skip"]
  tag -> exit
  stop -> exit
}
"""
# Generous bounds for a loaded machine; a run that waits for input never ends by itself.
RUN_LIMIT_S = 60.0
PROMPT_LIMIT_S = 30.0
EXIT_LIMIT_S = 10.0


def _flow(tmp_path: Path) -> tuple[Path, Path]:
    ran = tmp_path / "ran"
    flow = tmp_path / "gates.dot"
    flow.write_text(FLOW % {"ran": ran}, encoding="utf-8")
    return flow, ran


def _argv(tmp_path: Path, flow: Path) -> list[str]:
    return [sys.executable, "-m", "fabro", "run", str(flow), "--data-dir", str(tmp_path / "d")]


def _run(tmp_path: Path, stdin: str | None) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    flow, ran = _flow(tmp_path)
    done = subprocess.run(
        _argv(tmp_path, flow),
        cwd=REPO_ROOT,
        env=base_env(tmp_path),
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT_S,
    )
    return done, ran.read_text().split() if ran.exists() else []


def test_answers_piped_on_stdin_are_used_one_line_per_gate(tmp_path: Path) -> None:
    done, ran = _run(tmp_path, "y\nTag\n")
    assert done.returncode == 0, done.stderr
    assert ran == ["ship", "tag"]
    assert "> y" in done.stderr and "> Tag" in done.stderr


@pytest.mark.parametrize(
    ("stdin", "ran", "error"),
    [
        (None, [], "human gate 'approve' got no answer (stdin closed)"),
        ("", [], "human gate 'approve' got no answer (stdin closed)"),
        ("Y\n", ["ship"], "human gate 'confirm' got no answer (stdin closed)"),
        ("maybe\nY\n", [], "human gate 'approve' got no answer (stdin answer 'maybe' matches"),
    ],
    ids=["stdin-closed", "nothing-piped", "answers-run-out", "no-such-option"],
)
def test_an_unanswered_gate_fails_the_run_and_takes_no_edge(
    tmp_path: Path, stdin: str | None, ran: list[str], error: str
) -> None:
    done, stages = _run(tmp_path, stdin)
    assert done.returncode == 1, done.stderr
    assert stages == ran  # nothing behind the unanswered gate ran, not even `stop`
    assert "Run failed in " in done.stderr and f"Engine error: {error}" in done.stderr


def test_a_run_started_with_stdin_closed_fails_the_gate(tmp_path: Path) -> None:
    flow, ran = _flow(tmp_path)
    closing = "import os, sys; os.close(0); os.execv(sys.argv[1], sys.argv[1:])"
    done = subprocess.run(
        [sys.executable, "-c", closing, *_argv(tmp_path, flow)],
        cwd=REPO_ROOT,
        env=base_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT_S,
    )
    assert done.returncode == 1, done.stderr
    assert "Engine error: human gate 'approve' got no answer (stdin closed)" in done.stderr
    assert not ran.exists()


def _read_until(fd: int, marker: bytes, limit_s: float) -> bytes:
    """What ``fd`` gives until ``marker`` appears (or the limit passes, or it closes)."""
    seen = b""
    deadline = time.monotonic() + limit_s
    while marker not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the terminal's other side closed
                break
            if not chunk:
                break
            seen += chunk
    return seen


# Runs its arguments as the session leader with the terminal on stdin as its controlling
# terminal, so that ^C typed at the terminal sends SIGINT as it does in a shell.
_WITH_TERMINAL = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


@contextmanager
def at_a_terminal(tmp_path: Path, flow: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`fabro run flow` with a pseudo-terminal as its controlling terminal; yields the process
    and the terminal's controller end, and kills the process if it is still running."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-c", _WITH_TERMINAL, *_argv(tmp_path, flow)],
        cwd=REPO_ROOT,
        env=base_env(tmp_path),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
    )
    os.close(terminal)
    try:
        yield process, controller
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)


def test_ctrl_c_at_a_terminal_prompt_exits_at_once_with_130(tmp_path: Path) -> None:
    flow, ran = _flow(tmp_path)
    with at_a_terminal(tmp_path, flow) as (process, controller):
        shown = _read_until(controller, b"> ", PROMPT_LIMIT_S)
        assert b"Ship it?" in shown, shown
        os.write(controller, b"\x03")  # ^C
        pressed = time.monotonic()
        status = process.wait(timeout=EXIT_LIMIT_S)
        assert time.monotonic() - pressed < EXIT_LIMIT_S
        rest = _read_until(controller, b"resume with", 5.0)
    assert status == 130
    assert b"Run interrupted; resume with: fabro run --resume" in rest
    assert not ran.exists()


def test_an_answer_typed_at_the_terminal_is_used(tmp_path: Path) -> None:
    flow, ran = _flow(tmp_path)
    with at_a_terminal(tmp_path, flow) as (process, controller):
        assert b"Ship it?" in _read_until(controller, b"> ", PROMPT_LIMIT_S)
        os.write(controller, b"n\n")
        assert b"Run completed" in _read_until(controller, b"Run completed", RUN_LIMIT_S)
        assert process.wait(timeout=EXIT_LIMIT_S) == 0
    assert ran.read_text().split() == ["stop"]


def test_sigint_while_waiting_for_a_piped_answer_exits_at_once_with_130(tmp_path: Path) -> None:
    flow, ran = _flow(tmp_path)
    process = subprocess.Popen(
        _argv(tmp_path, flow),
        cwd=REPO_ROOT,
        env=base_env(tmp_path),
        stdin=subprocess.PIPE,  # open, with nothing written yet
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None and process.stdin is not None
    try:
        shown = _read_until(process.stderr.fileno(), b"N) No", PROMPT_LIMIT_S)
        assert b"Ship it?" in shown, shown
        process.send_signal(signal.SIGINT)
        pressed = time.monotonic()
        status = process.wait(timeout=EXIT_LIMIT_S)
        assert time.monotonic() - pressed < EXIT_LIMIT_S
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdin.close()
        process.stderr.close()
    assert status == 130
    assert not ran.exists()
