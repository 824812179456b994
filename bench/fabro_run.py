"""The `fabro run` row of `scripts/bench engine`: the real CLI, end to end, in a subprocess.

Each measurement runs ``python -m fabro run --dry-run --auto-approve`` (the simulated model,
as with no provider configured), each time on a fresh data folder: on a tiny workflow (start,
one agent stage, exit), on the workflow being measured, and on the tiny one again. The tiny
runs' mean time is subtracted, so the interpreter's start-up, the imports and the database's
creation are not counted; what is left is what the extra stages cost, parsing and validating
them included.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

TINY_STAGES = 3  # start, one agent stage, exit: the start-up baseline
TIMEOUT_S = 600.0  # a run that takes longer is stuck


class FabroRunFailed(RuntimeError):
    """`fabro run` did not complete the workflow (its exit status and last output)."""


@dataclass(frozen=True)
class EndToEnd:
    seconds: float  # the workflow's run less the tiny one's
    startup_s: float  # the tiny one's: start-up, which is not counted
    stored_bytes: int  # the workflow's data folder: local.db and the run's folder


def child_env() -> dict[str, str]:
    """This environment without FABRO_* variables: no model, data folder or registry of the
    user's changes what is measured (--dry-run already keeps provider keys unused)."""
    return {key: value for key, value in os.environ.items() if not key.startswith("FABRO_")}


async def fabro_run(workflow: Path, data_dir: Path) -> float:
    """Seconds `fabro run` takes on ``workflow`` with a fresh ``data_dir``, exit included."""
    command = [sys.executable, "-m", "fabro", "run", "--dry-run", "--auto-approve"]
    command += ["--data-dir", str(data_dir), str(workflow)]
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=workflow.parent,
        env=child_env(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,  # the progress lines, as a terminal would get them
    )
    try:
        async with asyncio.timeout(TIMEOUT_S):
            _, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        message = f"fabro run {workflow.name}: no exit within {TIMEOUT_S:.0f} s"
        raise FabroRunFailed(message) from None
    took = time.perf_counter() - started
    if process.returncode != 0:
        tail = err.decode(errors="replace")[-2000:]
        raise FabroRunFailed(f"fabro run {workflow.name} exited {process.returncode}:\n{tail}")
    return took


async def measure(folder: Path, source: str, tiny_source: str, name: str) -> EndToEnd:
    """`fabro run` on ``source`` less `fabro run` on ``tiny_source``, in ``folder/name`` (the
    caller removes it: see bench/engine.py on when)."""
    work = folder / name
    work.mkdir()
    workflow, tiny = work / "workflow.dot", work / "tiny.dot"
    workflow.write_text(source, encoding="utf-8")
    tiny.write_text(tiny_source, encoding="utf-8")
    data_dir = work / "data"
    # The tiny run before and after: their mean follows a machine that speeds up or slows.
    before = await fabro_run(tiny, work / "tiny-before")
    seconds = await fabro_run(workflow, data_dir)
    stored = sum(path.stat().st_size for path in data_dir.rglob("*") if path.is_file())
    startup = (before + await fabro_run(tiny, work / "tiny-after")) / 2
    return EndToEnd(seconds - startup, startup, stored)
