"""A `fabro serve` told to stop the moment it prints its listening line stops cleanly: its
stop-signal handlers are in place before that line is written (a script that starts the
server, waits for the line and stops it must never kill it half-started)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.e2e.serverproc import LISTENING, REPO_ROOT, base_env, free_port


def test_sigterm_right_after_the_listening_line_is_a_clean_stop(tmp_path: Path) -> None:
    for attempt in range(3):  # the window before the fix was a few milliseconds wide
        home = tmp_path / f"home{attempt}"
        home.mkdir()
        command = [sys.executable, "-m", "fabro", "serve", "--port", str(free_port())]
        with subprocess.Popen(
            command, cwd=REPO_ROOT, env=base_env(home), text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        ) as process:  # fmt: skip
            assert process.stdout is not None and process.stderr is not None
            first = process.stdout.readline()
            process.send_signal(signal.SIGTERM)
            try:
                status = process.wait(timeout=30)
            finally:
                process.kill()
            stderr = process.stderr.read()
        assert first.startswith(LISTENING), first
        assert status == 0, stderr
        assert "Traceback" not in stderr
