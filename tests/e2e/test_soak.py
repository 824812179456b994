"""`scripts/soak` end to end: a short soak in CI, a longer one marked slow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.serverproc import REPO_ROOT


def soak(tmp_path: Path, *args: str, timeout_s: float) -> str:
    command = [sys.executable, "-m", "bench.soak", "--workdir", str(tmp_path), *args]
    result = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout_s
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def row(output: str, name: str) -> str:
    for line in output.splitlines():
        if line.startswith(f"{name}  "):
            return line.removeprefix(name).strip()
    raise AssertionError(f"no {name!r} row in\n{output}")


def test_short_soak_kills_and_terminates_then_checks_everything(tmp_path: Path) -> None:
    output = soak(
        tmp_path,
        *("--cycles", "3", "--runs", "6", "--sigterm-every", "2", "--seed", "3"),
        *("--min-uptime", "0.5", "--max-uptime", "1.5"),
        timeout_s=60,
    )
    assert "seed 3" in output.splitlines()[0]
    assert (row(output, "cycles"), row(output, "SIGKILLs"), row(output, "SIGTERMs")) == (
        "3",
        "2",
        "1",
    )
    done, total = row(output, "runs completed").split("/")
    assert done == total and int(total) >= 6
    assert int(row(output, "events checked")) > 0
    assert row(output, "integrity_check") == "ok"
    # With a policy on: every command has its receipt, the chain verified after every stop.
    applied, opened = row(output, "receipts applied / open (interrupted)").split(" / ")
    assert int(applied) >= int(row(output, "witness lines")) - int(opened) > 0
    assert row(output, "receipts failed / refused") == "0 / 0"
    assert row(output, "receipt chain verified intact").startswith("4 times, ")
    assert row(output, "violations") == "0"


@pytest.mark.slow
def test_soak_twenty_cycles(tmp_path: Path) -> None:
    output = soak(tmp_path, "--cycles", "20", "--seed", "20", timeout_s=600)
    assert row(output, "violations") == "0"
    assert (row(output, "SIGKILLs"), row(output, "SIGTERMs")) == ("18", "2")
