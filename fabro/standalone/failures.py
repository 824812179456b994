"""What `fabro run` prints about a run's failed stages: why each failed, and the last lines of
its program's output (stdout.log and stderr.log of its folder, read from the end)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fabro.standalone.progress import printable
from fabro.storage.stage_files import Artifact, stage_dir
from fabro.storage.stages import StageRecord

TAIL_LINES = 20
STREAMS = ("stdout", "stderr")  # stderr last: nearest the run's last line, where eyes are


def _reason(stage: StageRecord) -> list[str]:
    """The failure message of the stage's outcome, as lines."""
    failure = (stage.outcome or {}).get("failure") or {}
    message = str(failure.get("message") or "").strip()
    return message.splitlines() or ["failed"]


def _tail(folder: Path, name: str, lines: int) -> tuple[list[str], bool] | None:
    """The last ``lines`` lines of the file and whether that is all of it; None when empty."""
    artifact = Artifact.open(folder, name)
    if artifact is None:
        return None
    try:
        if artifact.size == 0:
            return None
        start = artifact.tail_start(lines)
        text = artifact.read(start, artifact.size - start).decode("utf-8", "replace")
        return text.splitlines(), start == 0
    finally:
        artifact.close()


def stage_report(stage: StageRecord, run_dir: Path, lines: int = TAIL_LINES) -> list[str]:
    """The lines about one failed stage."""
    reason = _reason(stage)
    report = [f"Stage {stage.name} ({stage.stage_id}) failed: {printable(reason[0], 500)}"]
    folder = stage_dir(run_dir, stage.stage_id)
    shown = False
    for stream in STREAMS:
        tail = _tail(folder, f"{stream}.log", lines)
        if tail is None:
            continue
        text, whole = tail
        where = folder / f"{stream}.log"
        report.append(
            f"  {stream}:" if whole else f"  {stream}, last {lines} lines (all: {where}):"
        )
        report.extend(f"    {printable(line)}" for line in text)
        shown = True
    if not shown:  # no program output: the rest of the message is what there is to see
        report.extend(f"    {printable(line)}" for line in reason[1 : lines + 1])
    return report


def failure_report(stages: Sequence[StageRecord], run_dir: Path) -> list[str]:
    """The lines about every failed stage of the run, in the order they ran (blocks on files)."""
    report: list[str] = []
    for stage in stages:
        if stage.status == "failed":
            report.extend(stage_report(stage, run_dir))
    return report
