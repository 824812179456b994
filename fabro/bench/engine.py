"""`scripts/bench engine`: per-stage engine overhead, durable SQLite file vs in-memory.

Runs a linear workflow of N simulated agent stages (default 1,000) through the real engine
in one process: on a SQLite file in a temporary directory (every stage committed as in
production), and on an in-memory database (the baseline: the same work without the file),
alternately, ``--repeat`` times each, and prints the median of each with their ratio. Each
simulated agent stage makes its writes (stage start; prompt, its turn and session start; the
response, its turn and session end; the per-stage commit with the checkpoint) and reads the
pending steering, and writes its stage folder with `prompt.md` and `response.md`.

The stage folders go to the temporary directory too, unless ``--runs-dir`` says otherwise:
creating files is the file system's cost, not the engine's, and it varies a lot between
file systems (some microseconds on tmpfs; on some VM disks, hundreds). So the table also
shows what creating the stage folders alone costs there, measured the engine's way.
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
from pathlib import Path

from fabro.engine.artifacts import ArtifactWriter
from fabro.engine.lifecycle import Lifecycle, NewRun
from fabro.engine.questions import AutoApprove, QuestionDesk
from fabro.engine.recorder import Recorder
from fabro.engine.runner import Engine
from fabro.engine.stage import EngineDeps, RunSpec
from fabro.events.redact import Redactor
from fabro.llm.simulated import SimulatedBackend
from fabro.process import tune_collector
from fabro.storage.db import Database
from fabro.workflow.prepare import prepare

GOAL_MS = 0.5


def linear_workflow(stages: int) -> str:
    # `truncate` keeps every prompt the same size. With the default `compact` fidelity each
    # prompt lists every earlier stage, so a 1,000-stage run grows quadratically by design,
    # which would measure the preamble rather than the engine.
    lines = [
        "digraph Linear {",
        '  graph [goal="bench", max_node_visits=0, default_fidelity="truncate"]',
    ]
    lines.append("  start [shape=Mdiamond]\n  exit [shape=Msquare]")
    names = [f"s{i}" for i in range(stages)]
    lines += [f'  {name} [label="Stage {name}", prompt="Do {name}"]' for name in names]
    lines.append("  " + " -> ".join(["start", *names, "exit"]))
    lines.append("}")
    return "\n".join(lines)


async def run_once(db_path: str, data_dir: Path, stages: int) -> float:
    """Seconds to run the workflow once on the database at ``db_path``."""
    dot = linear_workflow(stages)
    graph = prepare(dot).graph
    db = await Database.open(db_path)
    try:
        lifecycle = Lifecycle(db, lambda record: None, Redactor(), data_dir)
        run = await lifecycle.create(NewRun(graph=graph, dot_source=dot, title="bench"))
        work_dir = await lifecycle.start(run)
        assert work_dir is not None
        deps = EngineDeps(
            llm=SimulatedBackend(),
            interviewer=AutoApprove(),
            desk=QuestionDesk(db),
            env={},
            rng=random.Random(1),
        )
        spec = RunSpec(run.id, graph, lifecycle.run_dir(run.id), work_dir)
        engine = Engine(spec, deps, Recorder(db, run.id, lambda record: None, Redactor()))
        started = time.perf_counter()
        result = await engine.run()
        took = time.perf_counter() - started
        assert result.status == "completed", result.error
        return took
    finally:
        await db.close()


async def folders_alone(base: Path, stages: int) -> float:
    """Seconds to write ``stages`` stage folders with a prompt.md and a response.md, the
    engine's way (ArtifactWriter, flushed at the end) and with the engine's sizes."""
    writer = ArtifactWriter()
    prompt = "Goal: bench\n\n" + "x" * 40
    response = "[Simulated] Response for stage: s0"
    started = time.perf_counter()
    for index in range(stages):
        folder = base / "nodes" / f"s{index}"
        writer.write(folder / "prompt.md", prompt)
        writer.write(folder / "response.md", response)
    await writer.flush()
    return time.perf_counter() - started


async def bench(stages: int, repeat: int, db_dir: Path, runs_dir: Path) -> dict[str, float]:
    """Median seconds of each measurement; the runs alternate, so drift hits both alike."""
    times: dict[str, list[float]] = {"durable": [], "memory": [], "folders": []}
    for attempt in range(repeat):
        times["durable"].append(
            await run_once(str(db_dir / f"fabro-{attempt}.db"), runs_dir / f"d{attempt}", stages)
        )
        times["memory"].append(await run_once(":memory:", runs_dir / f"m{attempt}", stages))
        times["folders"].append(await folders_alone(runs_dir / f"f{attempt}", stages))
    return {name: statistics.median(values) for name, values in times.items()}


def describe(folder: Path) -> str:
    """``folder`` and the type of the file system it is on (from /proc/mounts, when there)."""
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
    return f"{folder} ({kind})"


def report(stages: int, repeat: int, db_dir: Path, runs_dir: Path, took: dict[str, float]) -> str:
    per = {name: seconds / stages * 1000 for name, seconds in took.items()}
    durable, memory = took["durable"], took["memory"]
    verdict = "met" if per["durable"] <= GOAL_MS else "NOT met"
    return "\n".join(
        [
            f"engine: {stages} simulated agent stages, linear; median of {repeat} runs each",
            f"database in {describe(db_dir)}; stage folders in {describe(runs_dir)}",
            f"{'database':<22}{'total s':>10}{'ms/stage':>12}{'ratio':>8}",
            f"{'in-memory (baseline)':<22}{memory:>10.3f}{per['memory']:>12.3f}{1.0:>8.2f}",
            f"{'SQLite file (durable)':<22}{durable:>10.3f}{per['durable']:>12.3f}"
            f"{durable / memory:>8.2f}",
            f"stage folders alone (prompt.md, response.md): {per['folders']:.3f} ms per stage",
            f"goal: <= {GOAL_MS} ms per durable stage: {verdict}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench engine", description=__doc__)
    parser.add_argument("--stages", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (the median counts)")
    parser.add_argument("--runs-dir", type=Path, help="where stage folders go (default: temp)")
    args = parser.parse_args(argv)
    tune_collector()  # as `fabro serve` and `fabro run` do
    with tempfile.TemporaryDirectory() as folder:
        db_dir = Path(folder)
        runs_dir = db_dir
        if args.runs_dir is not None:
            args.runs_dir.mkdir(parents=True, exist_ok=True)
            runs_dir = Path(tempfile.mkdtemp(prefix="fabro-bench-", dir=args.runs_dir))
        try:
            took = asyncio.run(bench(args.stages, args.repeat, db_dir, runs_dir))
        finally:
            if runs_dir != db_dir:
                shutil.rmtree(runs_dir, ignore_errors=True)
    print(report(args.stages, args.repeat, db_dir, runs_dir, took))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
