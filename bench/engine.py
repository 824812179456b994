"""`scripts/bench engine`: per-stage engine overhead and bytes stored, as a run gets longer.

Runs a linear workflow of simulated agent stages through the real engine in one process, with
the default fidelity (``compact``, what `fabro run` uses: each prompt carries the preamble), at
two lengths (default 1,000 and 5,000 stages). At each length, alternately and ``--repeat``
times each, it runs:

- on an in-memory database: the baseline, the same work without the file;
- on a SQLite file (durable): stages that reach nothing outside the database are committed in
  groups, as in production;
- on a SQLite file with every stage committed before the next begins, as when each stage has
  an external effect: the like-for-like figure with engines that commit every step.

It prints the median time per stage of each, its ratio to the baseline, the bytes stored per
stage (the database file and the stage folders with ``prompt.md`` and ``response.md``), and
the ratio of the longest length to the shortest: a cost per stage that grows with the run
shows there. The database and the stage folders are in one temporary folder on the disk,
unless ``--runs-dir`` puts the folders elsewhere: creating files is the file system's cost, and
it varies a lot between file systems and over time (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from fabro.config import LimitsSettings
from fabro.engine.assembly import assemble_run
from fabro.engine.handlers import HANDLERS
from fabro.engine.lifecycle import Lifecycle, NewRun
from fabro.engine.outcome import Outcome
from fabro.engine.questions import AutoApprove, QuestionDesk
from fabro.engine.stage import EngineDeps, Handler, StageRun
from fabro.events.redact import Redactor
from fabro.llm.simulated import SimulatedBackend
from fabro.process import tune_collector
from fabro.storage.db import Database
from fabro.workflow import kinds
from fabro.workflow.model import Node
from fabro.workflow.prepare import prepare

GOAL_MS = 0.4  # per durable stage, at every length
GOAL_COMMITTED_MS = 0.5  # per stage with every stage committed, at every length
GOAL_GROWTH = 1.2  # per-stage time, longest length / shortest
LENGTHS = (1000, 5000)
QUICK_LENGTHS = (50, 250)
# (key, label, database file?, every stage committed?)
MODES = (
    ("memory", "in-memory database (baseline)", False, False),
    ("durable", "SQLite file (durable)", True, False),
    ("committed", "SQLite file, every stage committed", True, True),
)


def linear_workflow(stages: int) -> str:
    """A line of ``stages`` agent stages with the default fidelity."""
    lines = [
        "digraph Linear {",
        '  graph [goal="bench", max_node_visits=0]',
        "  start [shape=Mdiamond]\n  exit [shape=Msquare]",
    ]
    names = [f"s{i}" for i in range(stages)]
    lines += [f'  {name} [label="Stage {name}", prompt="Do {name}"]' for name in names]
    lines.append("  " + " -> ".join(["start", *names, "exit"]))
    lines.append("}")
    return "\n".join(lines)


def committed_first(handler: Handler) -> Handler:
    """``handler`` once everything before it is committed, as before an external effect."""

    async def settled(node: Node, stage: StageRun) -> Outcome:
        await stage.recorder.settle()
        return await handler(node, stage)

    return settled


EVERY_STAGE_COMMITTED = {
    **HANDLERS,
    kinds.AGENT: committed_first(HANDLERS[kinds.AGENT]),
    kinds.PROMPT: committed_first(HANDLERS[kinds.PROMPT]),
}


@dataclass(frozen=True)
class Measure:
    seconds: float
    stored_bytes: int  # database file and stage folders (0 for the in-memory database)


def folder_bytes(folder: Path, pattern: str = "**/*") -> int:
    return sum(path.stat().st_size for path in folder.glob(pattern) if path.is_file())


async def run_once(db_path: Path | None, data_dir: Path, stages: int, commit_each: bool) -> float:
    """Seconds to run the workflow once (``db_path`` None: an in-memory database)."""
    dot = linear_workflow(stages)
    # A line of 5,000 stages is 5,002 nodes, past the default bound on untrusted workflows.
    graph = prepare(dot, limits=LimitsSettings(max_nodes=stages + 2)).graph
    db = await Database.open(":memory:" if db_path is None else str(db_path))
    try:
        lifecycle = Lifecycle(db, lambda record: None, Redactor(), data_dir)
        run = await lifecycle.create(NewRun(graph=graph, dot_source=dot, title="bench"))
        deps = EngineDeps(
            llm=SimulatedBackend(),
            interviewer=AutoApprove(),
            desk=QuestionDesk(db),
            env={},
            rng=random.Random(1),
        )
        handlers = EVERY_STAGE_COMMITTED if commit_each else None
        assembled = await assemble_run(lifecycle, run, deps, handlers=handlers)
        assert assembled is not None
        started = time.perf_counter()
        result = await assembled.run()
        took = time.perf_counter() - started
        assert result.status == "completed", result.error
        return took
    finally:
        await db.close()


async def measure(mode: str, db_dir: Path, runs_dir: Path, stages: int) -> Measure:
    """One run of ``mode``; its files are measured, then removed."""
    _key, _label, on_file, commit_each = next(m for m in MODES if m[0] == mode)
    name = f"{mode}-{stages}.db"
    data_dir = runs_dir / f"{mode}-{stages}"
    try:
        seconds = await run_once(db_dir / name if on_file else None, data_dir, stages, commit_each)
        stored = folder_bytes(data_dir) + folder_bytes(db_dir, f"{name}*")
    finally:
        remove(data_dir, db_dir, name)
    return Measure(seconds, stored if on_file else 0)


def remove(data_dir: Path, db_dir: Path, name: str) -> None:
    """The stage folders and the database files of one run."""
    shutil.rmtree(data_dir, ignore_errors=True)
    for path in db_dir.glob(f"{name}*"):
        path.unlink()


Results = dict[tuple[int, str], Measure]


async def bench(lengths: tuple[int, ...], repeat: int, db_dir: Path, runs_dir: Path) -> Results:
    """The median of each measurement; the modes alternate, so drift hits all alike."""
    results: Results = {}
    for stages in lengths:
        runs: dict[str, list[Measure]] = {mode[0]: [] for mode in MODES}
        for _ in range(repeat):
            for mode in runs:
                runs[mode].append(await measure(mode, db_dir, runs_dir, stages))
        for mode, measures in runs.items():
            results[(stages, mode)] = Measure(
                statistics.median(m.seconds for m in measures),
                int(statistics.median(m.stored_bytes for m in measures)),
            )
    return results


def file_system(folder: Path) -> str:
    """The type of the file system ``folder`` is on (from /proc/mounts; "?" when unknown)."""
    kind = "?"
    try:
        mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        mounts = []
    real = os.path.realpath(folder)
    best = ""
    for fields in mounts:
        point = fields[1]
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, kind = point, fields[2]
    return kind


def describe(folder: Path) -> str:
    return f"{folder} ({file_system(folder)})"


def ms_per_stage(results: Results, stages: int, mode: str) -> float:
    return results[(stages, mode)].seconds / stages * 1000


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(repeat: int, db_dir: Path, runs_dir: Path, results: Results) -> str:
    lengths = sorted({stages for stages, _mode in results})
    where = (
        f"database and stage folders in {describe(db_dir)}"
        if runs_dir == db_dir
        else f"database in {describe(db_dir)}; stage folders in {describe(runs_dir)}"
    )
    lines = [
        "engine: simulated agent stages in a line, default fidelity (compact); "
        f"median of {repeat} runs each",
        where,
        f"{'run':<38}{'stages':>7}{'total s':>9}{'ms/stage':>10}{'ratio':>7}{'bytes/stage':>13}",
    ]
    for stages in lengths:
        baseline = results[(stages, "memory")].seconds
        for mode, label, on_file, _commit_each in MODES:
            got = results[(stages, mode)]
            stored = f"{got.stored_bytes / stages:,.0f}" if on_file else "-"
            per = ms_per_stage(results, stages, mode)
            lines.append(
                f"{label:<38}{stages:>7}{got.seconds:>9.3f}{per:>10.3f}"
                f"{got.seconds / baseline:>7.2f}{stored:>13}"
            )
    short, long = lengths[0], lengths[-1]

    def growth(mode: str) -> float:
        return ms_per_stage(results, long, mode) / ms_per_stage(results, short, mode)

    def bytes_growth() -> float:
        per = [results[(n, "durable")].stored_bytes / n for n in (short, long)]
        return per[1] / per[0] if per[0] else 0.0

    durable_ok = all(ms_per_stage(results, n, "durable") <= GOAL_MS for n in lengths)
    committed_ok = all(ms_per_stage(results, n, "committed") <= GOAL_COMMITTED_MS for n in lengths)
    lines += [
        f"{long:,}/{short:,} per stage: in-memory {growth('memory'):.2f}, durable "
        f"{growth('durable'):.2f}, every stage committed {growth('committed'):.2f}; "
        f"bytes stored {bytes_growth():.2f}",
        f"goal: <= {GOAL_MS} ms per durable stage at each length: {verdict(durable_ok)}",
        f"goal: durable {long:,}/{short:,} <= {GOAL_GROWTH}: "
        f"{verdict(growth('durable') <= GOAL_GROWTH)}",
        f"goal: <= {GOAL_COMMITTED_MS} ms per stage with every stage committed, at each length: "
        f"{verdict(committed_ok)}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench engine", description=__doc__)
    parser.add_argument(
        "--stages", type=int, nargs="+", help=f"run lengths (default {' '.join(map(str, LENGTHS))})"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (the median counts)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"lengths {' and '.join(map(str, QUICK_LENGTHS))}, one run each (a smoke test)",
    )
    parser.add_argument(
        "--runs-dir", type=Path, help="where the stage folders go (default: beside the database)"
    )
    args = parser.parse_args(argv)
    lengths = tuple(sorted(args.stages or (QUICK_LENGTHS if args.quick else LENGTHS)))
    repeat = 1 if args.quick else args.repeat
    tune_collector()  # as `fabro serve` and `fabro run` do
    with tempfile.TemporaryDirectory() as folder:
        db_dir = Path(folder)
        runs_dir = db_dir
        if args.runs_dir is not None:
            args.runs_dir.mkdir(parents=True, exist_ok=True)
            runs_dir = Path(tempfile.mkdtemp(prefix="fabro-bench-", dir=args.runs_dir))
        try:
            results = asyncio.run(bench(lengths, repeat, db_dir, runs_dir))
        finally:
            if runs_dir != db_dir:
                shutil.rmtree(runs_dir, ignore_errors=True)
    print(report(repeat, db_dir, runs_dir, results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
