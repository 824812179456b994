"""Without Chromium the browser tests fail, each with one line saying why; none is skipped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_a_missing_chromium_fails_the_browser_tests_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-chromium"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rE"]
    done = subprocess.run(
        [*command, "tests/ui/browser/test_csrf.py"],
        cwd=REPO_ROOT,
        env=os.environ | {"FABRO_CHROMIUM": str(missing)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    reason = (
        f"Chromium is missing at {missing}: scripts/test installs it with apt-get "
        "(apt-get install chromium), or set FABRO_CHROMIUM to a Chromium binary"
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.count(f"\n{reason}\n") == 2  # one line per test
    assert "2 errors" in done.stdout and "skipped" not in done.stdout
