"""Programs left running by a server that died: found and stopped before a run resumes.

Command stages and the agent's shell tool run in their own process group, so a SIGKILLed
server does not take them along. Left alone, such a program would go on changing the run's
working directory while the resumed run executes the same stage again. Each program is
therefore recorded by a file `<run_dir>/pids/<pid>` naming the process that started it, and
removed when it ends; when a run resumes, every recorded group whose starter is gone and whose
leader still carries this run's FABRO_RUN_ID is killed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from pathlib import Path

log = logging.getLogger(__name__)

PIDS_DIR = "pids"


class ProcessRecord:
    """The file recording one running program of a run."""

    def __init__(self, run_dir: Path, pid: int) -> None:
        self.path = run_dir / PIDS_DIR / str(pid)

    @classmethod
    def create(cls, run_dir: Path, pid: int) -> ProcessRecord:
        record = cls(run_dir, pid)
        record.path.parent.mkdir(parents=True, exist_ok=True)
        record.path.write_text(str(os.getpid()))
        return record

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _environ(pid: int) -> dict[str, str] | None:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:  # gone, not ours, or no /proc here
        return None
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


def kill_orphans(run_dir: Path, run_id: str) -> int:
    """Kill the process groups that an earlier server started for ``run_id``; their count.

    A group is killed only when the process that recorded it is not this one and its leader
    still has ``FABRO_RUN_ID=run_id`` in its environment (so a recycled pid is left alone).
    """
    folder = run_dir / PIDS_DIR
    if not folder.is_dir():
        return 0
    killed = 0
    for path in folder.iterdir():
        try:
            pid, starter = int(path.name), int(path.read_text() or 0)
        except (ValueError, OSError):
            continue
        if starter == os.getpid():
            continue  # ours and still running (a parallel branch, a child workflow)
        environ = _environ(pid)
        if environ is not None and environ.get("FABRO_RUN_ID") == run_id:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
                killed += 1
                log.info("run %s: killed program %d left running by a stopped server", run_id, pid)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return killed
