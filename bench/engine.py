"""`scripts/bench engine`: per-stage engine overhead and bytes stored, as a run gets longer.

Runs a line of simulated agent stages with the default fidelity (``compact``, what `fabro run`
uses: each prompt carries the preamble) at two lengths (default 1,000 and 5,000 stages, start
and exit counted: `fabro run` refuses a workflow of more than limits.max_nodes, 5,000). At
each length, alternately and ``--repeat`` times each, it runs:

- in this process, on an in-memory database: the baseline, the same work without the file;
- in this process, on a SQLite file (durable): stages that reach nothing outside the database
  are committed in groups, as in production;
- the same, with a side effect in every stage (``stage.side_effect``, see
  fabro/engine/effects.py), whose guard waits until everything before it is committed: the
  like-for-like figure with engines that commit every step; and the same commits to the
  in-memory database, which shows what of their cost is not the disk's;
- the same, the side effect being a command that passes a gate (``stage.gate``, see
  fabro/engine/governor.py) and runs nothing: with a receipt and no policy configured, then
  with a receipt and a realistic policy of 20 rules allowing it (bench/governance.py). The
  differences price the receipt and the policy check per side effect;
- `fabro run` end to end, in a subprocess (see bench/fabro_run.py), less its start-up.

It prints the median time per stage of each, its ratio to the baseline, the bytes stored per
stage (the database file and the stage folders with ``prompt.md`` and ``response.md``), the
ratio of the longest length to the shortest (a cost per stage that grows with the run shows
there), and what creating the stage folders alone costs on that disk at that moment. The
database and the stage folders are in one temporary folder on the disk, unless ``--runs-dir``
puts the folders of the in-process runs elsewhere (`fabro run` keeps its data folder, database
and stage folders, beside the database): creating files is the file system's cost, and it
varies a lot between file systems and over time (see docs/benchmarks.md). Every run's files
stay until the bench ends: on an ext4 without a journal, creating a file costs many times more
for minutes after many were deleted (see ``file_system``), so removing one run's thousands of
files would slow the runs after it.
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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench import fabro_run, governance
from bench.report import verdict
from fabro.engine.assembly import assemble_run
from fabro.engine.governor import Governor
from fabro.engine.handlers import HANDLERS
from fabro.engine.lifecycle import Lifecycle, NewRun
from fabro.engine.outcome import Outcome
from fabro.engine.questions import AutoApprove, QuestionDesk
from fabro.engine.stage import EngineDeps, StageHandler, StageRun
from fabro.events.redact import Redactor
from fabro.llm.simulated import SimulatedBackend
from fabro.process import tune_collector
from fabro.storage.db import Database
from fabro.storage.sqlite_store import SqliteStore
from fabro.workflow import kinds
from fabro.workflow.model import Node
from fabro.workflow.prepare import prepare

GOAL_MS = 0.4  # per durable stage, at every length
GOAL_COMMITTED_MS = 0.5  # per stage with every stage committed, at every length
GOAL_FABRO_RUN_MS = 0.5  # per stage of `fabro run`, start-up not counted, at every length
GOAL_GROWTH = 1.2  # per-stage time, longest length / shortest
GOAL_GOVERNANCE_MS = 0.2  # per side effect: the receipt, and the policy check
LENGTHS = (1000, 5000)
QUICK_LENGTHS = (50, 250)
MIN_STAGES = fabro_run.TINY_STAGES + 1  # the `fabro run` row counts the stages past the tiny run
PROBE_STAGES = 1000  # stage folders created to price the file system


@dataclass(frozen=True)
class Mode:
    key: str
    label: str
    on_file: bool  # a database file (else an in-memory database)
    commit_each: bool = False  # a side effect in every stage
    gated: bool = False  # the side effect is a command passing a gate: a receipt
    policy: bool = False  # ... decided by bench/governance.py's policy
    base: str | None = None  # the mode it adds to (what it costs more is priced)


MODES = (
    Mode("memory", "in-memory database (baseline)", on_file=False),
    Mode("durable", "SQLite file (durable)", on_file=True),
    Mode("committed", "SQLite file, every stage committed", on_file=True, commit_each=True),
    # The same commits to an in-memory database: how much of their cost is not the disk's
    # (docs/benchmarks.md, 2026-12-07: most of it).
    Mode("memory_committed", "in-memory, every stage committed", on_file=False, commit_each=True),
    Mode(
        "receipt",
        "committed, with a receipt, no policy",
        on_file=True,
        commit_each=True,
        gated=True,
        base="committed",
    ),
    Mode(
        "policy",
        "committed, with a receipt and a policy",
        on_file=True,
        commit_each=True,
        gated=True,
        policy=True,
        base="receipt",
    ),
    Mode("fabro_run", "`fabro run` end to end", on_file=True),
)


def linear_workflow(stages: int) -> str:
    """A line of ``stages`` agent stages (between start and exit) with the default fidelity."""
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


def bench_workflow(stages: int) -> str:
    """The workflow of ``stages`` stages in all, start and exit included."""
    return linear_workflow(stages - 2)


def effect_first(handler: StageHandler) -> StageHandler:
    """``handler`` after a side effect that takes no time: its guard first waits until
    everything before it is committed, as before a program or a real model request."""

    async def with_effect(node: Node, stage: StageRun) -> Outcome:
        async with stage.side_effect("tool", "bench"):
            pass
        return await handler(node, stage)

    return with_effect


EVERY_STAGE_COMMITTED = {
    **HANDLERS,
    kinds.AGENT: effect_first(HANDLERS[kinds.AGENT]),
    kinds.PROMPT: effect_first(HANDLERS[kinds.PROMPT]),
}
EVERY_STAGE_GATED = {
    **HANDLERS,
    kinds.AGENT: governance.gated_first(HANDLERS[kinds.AGENT]),
    kinds.PROMPT: governance.gated_first(HANDLERS[kinds.PROMPT]),
}


@dataclass(frozen=True)
class Measure:
    seconds: float
    stored_bytes: int  # database file and stage folders (0 for the in-memory database)
    counted: int  # the stages ``seconds`` is for
    startup_s: float = 0.0  # `fabro run`: the tiny run's time, subtracted from ``seconds``
    # A mode with a base: seconds more than the base's run of the same round (the median of
    # these, not the difference of the medians: a round's runs are seconds apart, so a
    # change in the machine's load between rounds cancels out).
    added_s: float = 0.0

    @property
    def ms_per_stage(self) -> float:
        return self.seconds / self.counted * 1000


def folder_bytes(folder: Path, pattern: str = "**/*") -> int:
    return sum(path.stat().st_size for path in folder.glob(pattern) if path.is_file())


async def run_once(
    db_path: Path | None,
    data_dir: Path,
    stages: int,
    handlers: Mapping[str, StageHandler] | None = None,
    governor: Governor | None = None,
) -> float:
    """Seconds to run the workflow once (``db_path`` None: an in-memory database; ``handlers``
    None: the engine's own; ``governor`` None: no policy)."""
    dot = bench_workflow(stages)
    graph = prepare(dot).graph
    db = await Database.open(":memory:" if db_path is None else str(db_path))
    try:
        store = SqliteStore(db)
        lifecycle = Lifecycle(store, lambda record: None, Redactor(), data_dir)
        run = await lifecycle.create(NewRun(graph=graph, dot_source=dot, title="bench"))
        deps = EngineDeps(
            llm=SimulatedBackend(),
            interviewer=AutoApprove(),
            desk=QuestionDesk(store),
            env={},
            rng=random.Random(1),
            governor=governor or Governor(),
        )
        assembled = await assemble_run(lifecycle, run, deps, handlers=handlers)
        assert assembled is not None
        started = time.perf_counter()
        result = await assembled.run()
        took = time.perf_counter() - started
        assert result.status == "completed", result.error
        return took
    finally:
        await db.close()


async def measure(mode: Mode, db_dir: Path, runs_dir: Path, stages: int, index: int = 0) -> Measure:
    """Run ``index`` of ``mode``; its files are measured and kept until the bench ends."""
    name = f"{mode.key}-{stages}-{index}"
    if mode.key == "fabro_run":
        tiny = bench_workflow(fabro_run.TINY_STAGES)
        got = await fabro_run.measure(db_dir, bench_workflow(stages), tiny, name)
        counted = stages - fabro_run.TINY_STAGES
        return Measure(got.seconds, got.stored_bytes, counted, got.startup_s)
    data_dir = runs_dir / name
    db_path = db_dir / f"{name}.db" if mode.on_file else None
    handlers = None
    if mode.commit_each:
        handlers = EVERY_STAGE_GATED if mode.gated else EVERY_STAGE_COMMITTED
    governor = governance.governed(governance.bench_policy()) if mode.policy else None
    seconds = await run_once(db_path, data_dir, stages, handlers, governor)
    stored = folder_bytes(data_dir) + folder_bytes(db_dir, f"{name}.db*")
    return Measure(seconds, stored if mode.on_file else 0, stages)


def stage_files_ms(folder: Path, stages: int = PROBE_STAGES) -> float:
    """Milliseconds per stage to create a stage folder with a prompt.md and a response.md in
    ``folder``, as the artifact thread does: the file system's share, here and now."""
    root = Path(tempfile.mkdtemp(prefix="files-", dir=folder))
    text = b"x" * 1024
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        started = time.perf_counter()
        for index in range(stages):
            stage = root / "nodes" / f"s{index}"
            stage.mkdir(parents=True)
            for name in ("prompt.md", "response.md"):
                fd = os.open(stage / name, flags, 0o666)
                os.write(fd, text)
                os.close(fd)
        return (time.perf_counter() - started) / stages * 1000
    finally:
        shutil.rmtree(root, ignore_errors=True)


Results = dict[tuple[int, str], Measure]


def median(measures: list[Measure], bases: list[Measure] | None = None) -> Measure:
    """The median of ``measures``, and of what each took more than its round's base run."""
    pairs = [] if bases is None else zip(measures, bases, strict=True)
    added = [m.seconds - b.seconds for m, b in pairs]
    return Measure(
        statistics.median(m.seconds for m in measures),
        int(statistics.median(m.stored_bytes for m in measures)),
        measures[0].counted,
        statistics.median(m.startup_s for m in measures),
        statistics.median(added) if added else 0.0,
    )


async def bench(lengths: tuple[int, ...], repeat: int, db_dir: Path, runs_dir: Path) -> Results:
    """The median of each measurement; the modes alternate, so drift hits all alike."""
    results: Results = {}
    for stages in lengths:
        runs: dict[str, list[Measure]] = {mode.key: [] for mode in MODES}
        for index in range(repeat):
            for mode in MODES:
                runs[mode.key].append(await measure(mode, db_dir, runs_dir, stages, index))
        for mode in MODES:
            bases = None if mode.base is None else runs[mode.base]
            results[(stages, mode.key)] = median(runs[mode.key], bases)
    return results


def file_system(
    folder: Path, mounts_file: Path = Path("/proc/mounts"), journals: Path = Path("/proc/fs/jbd2")
) -> str:
    """The type of the file system ``folder`` is on (from /proc/mounts; "?" when unknown),
    and "no journal" for an ext4 without one: its inode allocator then skips every inode
    deleted in the last minutes, reading each, so creating files costs many times more after
    other files were deleted (``recently_deleted`` in Linux's fs/ext4/ialloc.c)."""
    kind, device = "?", ""
    try:
        mounts = [line.split() for line in mounts_file.read_text().splitlines()]
    except OSError:
        mounts = []
    real = os.path.realpath(folder)
    best = ""
    for fields in mounts:
        point = fields[1]
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, device, kind = point, fields[0], fields[2]
    if kind == "ext4" and not any(journals.glob(f"{Path(device).name}-*")):
        return "ext4, no journal"
    return kind


def describe(folder: Path) -> str:
    return f"{folder} ({file_system(folder)})"


def report(
    repeat: int, db_dir: Path, runs_dir: Path, results: Results, files_ms: float | None = None
) -> str:
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
        baseline = results[(stages, "memory")].ms_per_stage
        for mode in MODES:
            got = results[(stages, mode.key)]
            stored = f"{got.stored_bytes / stages:,.0f}" if mode.on_file else "-"
            lines.append(
                f"{mode.label:<38}{stages:>7}{got.seconds:>9.3f}{got.ms_per_stage:>10.3f}"
                f"{got.ms_per_stage / baseline:>7.2f}{stored:>13}"
            )
    short, long = lengths[0], lengths[-1]

    def per(stages: int, key: str) -> float:
        return results[(stages, key)].ms_per_stage

    def growth(key: str) -> float:
        return per(long, key) / per(short, key)

    def bytes_growth() -> float:
        stored = [results[(n, "durable")].stored_bytes / n for n in (short, long)]
        return stored[1] / stored[0] if stored[0] else 0.0

    def at_each(key: str, goal: float) -> str:
        return verdict(all(per(n, key) <= goal for n in lengths))

    def governance_lines(name: str, key: str, how: str) -> list[str]:
        # Per side effect: one in every stage but start and exit.
        costs = [results[(n, key)].added_s / (n - 2) * 1000 for n in lengths]
        at = ", ".join(f"{cost:.3f} ms at {n:,}" for cost, n in zip(costs, lengths, strict=True))
        met = verdict(all(cost <= GOAL_GOVERNANCE_MS for cost in costs))
        return [
            f"{name} per side effect ({how}): {at}",
            f"goal: <= {GOAL_GOVERNANCE_MS} ms per side effect for the {name}, at each length: "
            f"{met}",
        ]

    startup = ", ".join(f"{results[(n, 'fabro_run')].startup_s:.3f} s" for n in lengths)
    lines += [
        f"`fabro run` start-up (a {fabro_run.TINY_STAGES}-stage run, not counted): {startup}",
    ]
    if files_ms is not None:
        lines.append(
            f"stage folders alone (a folder, prompt.md and response.md) on "
            f"{file_system(runs_dir)} now: {files_ms:.3f} ms per stage"
        )
    lines += [
        f"{long:,}/{short:,} per stage: in-memory {growth('memory'):.2f}, durable "
        f"{growth('durable'):.2f}, every stage committed {growth('committed'):.2f}, "
        f"with a receipt and a policy {growth('policy'):.2f}, "
        f"`fabro run` {growth('fabro_run'):.2f}; bytes stored {bytes_growth():.2f}",
        f"goal: <= {GOAL_MS} ms per durable stage at each length: {at_each('durable', GOAL_MS)}",
        f"goal: durable {long:,}/{short:,} <= {GOAL_GROWTH}: "
        f"{verdict(growth('durable') <= GOAL_GROWTH)}",
        f"goal: <= {GOAL_FABRO_RUN_MS} ms per stage for `fabro run` end to end, at each length: "
        f"{at_each('fabro_run', GOAL_FABRO_RUN_MS)}",
        f"goal: <= {GOAL_COMMITTED_MS} ms per stage with every stage committed, at each length: "
        f"{at_each('committed', GOAL_COMMITTED_MS)}",
        *governance_lines("receipt", "receipt", "with a receipt - committed"),
        *governance_lines("policy check", "policy", "with a receipt and a policy - with a receipt"),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench engine", description=__doc__)
    parser.add_argument(
        "--stages",
        type=int,
        nargs="+",
        help=f"run lengths, start and exit included (default {' '.join(map(str, LENGTHS))})",
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
    if lengths[0] < MIN_STAGES:
        parser.error(f"--stages: at least {MIN_STAGES} (the `fabro run` row subtracts a tiny run)")
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
            files_ms = stage_files_ms(runs_dir, min(PROBE_STAGES, lengths[-1]))
        finally:
            if runs_dir != db_dir:
                shutil.rmtree(runs_dir, ignore_errors=True)
    print(report(repeat, db_dir, runs_dir, results, files_ms))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
