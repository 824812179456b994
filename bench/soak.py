"""`scripts/soak`: runs in flight through repeated server crashes, then every promise checked.

One `fabro serve` subprocess at a time on a fresh data dir (JWT authentication, simulated LLM
backend). The soak keeps ``--runs`` runs in flight (each a random mix of command stages that
append their node id to the run's witness file, human gates answered over HTTP, and a parallel
fan-out/fan-in), and ``--cycles`` times kills the server at a random moment (seeded): SIGKILL,
or SIGTERM every ``--sigterm-every`` cycles, then restarts it on the same data dir. Every run
is followed by its own SSE client that reconnects with Last-Event-ID across the crashes.

At the end, with every run finished: each run `completed`; its stored events consistent
(soak_checks.audit_events: no completed stage ran again, recovery resumed where the checkpoint
said, every answered gate announced); its witness file agreeing with them (a command runs at
most once per recorded execution: twice only when a crash interrupted it); the SSE client's
log equal to a full replay; `PRAGMA integrity_check` ok and nothing left open in the database
(soak_server.database_problems); no command process outliving a SIGTERM; no "database is
locked", traceback or ERROR line in any server log.

The server runs with a policy that allows the command stages' scripts and nothing else
(soak_server.policy), so each command passes a gate and has a receipt. After every stop, and
at the end, the receipts' hash chain must verify intact; at the end each run's receipts must
agree with its witness file and events (soak_checks.audit_receipts: every executed command
has exactly one receipt, `applied` once it ran to the end; none lacks its action, kind,
decision and rule).

Prints a summary table and exits 1 on any violation (the work folder is then kept).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import soak_server
from bench.loadgen import ServerProc
from bench.soak_checks import (
    TERMINAL,
    RunAudit,
    SeenEvent,
    audit_events,
    audit_receipts,
    audit_stream,
    audit_witness,
)
from fabro.auth.keys import ensure_key_pair, mint_token
from fabro.events.sse import FrameParser
from fabro.governance.receipts import VerifyReport
from fabro.storage.db import Database
from fabro.storage.receipts import NoReceipts, ReceiptRecord, Receipts, verify_file

USER = "soak"
REQUEST_TIMEOUT_S = 10.0
RETRY_FOR_S = 120.0  # a request keeps retrying across restarts for this long
SSE_READ_TIMEOUT_S = 40.0  # keep-alives come every 15 s
POLL_QUESTIONS_S = 3.0  # answerers also look for pending questions this often
SIGTERM_EXIT_S = 15.0


@dataclass(frozen=True)
class Options:
    cycles: int
    runs: int
    seed: int
    sigterm_every: int
    min_uptime_s: float
    max_uptime_s: float
    drain_timeout_s: float
    workdir: Path | None
    keep: bool


@dataclass(frozen=True)
class Workflow:
    dot: str
    scripts: Mapping[str, str]  # command node -> its script

    @property
    def commands(self) -> frozenset[str]:
        return frozenset(self.scripts)


def make_workflow(rng: random.Random, witness: Path, name: str) -> Workflow:
    """A random run: a command chain, a parallel fan-out/fan-in, human gates, more commands."""
    lines = [f"digraph {name} {{", "  start [shape=Mdiamond]", "  exit [shape=Msquare]"]
    scripts: dict[str, str] = {}

    def command(node: str) -> str:
        pause = rng.choice((0.05, 0.1, 0.2, 0.3, 0.5))
        script = f"sleep {pause}; echo {node} >> {witness}"
        scripts[node] = script
        return f'  {node} [shape=parallelogram, script="{script}"]'

    path = ["start"]
    for i in range(rng.randint(1, 2)):
        lines.append(command(f"a{i}"))
        path.append(f"a{i}")
    edges = [f"  {a} -> {b}" for a, b in itertools.pairwise(path)]
    if rng.random() < 0.8:
        branches = [f"b{i}" for i in range(rng.randint(2, 3))]
        lines += ["  par [shape=component]", "  join [shape=tripleoctagon]"]
        edges.append(f"  {path[-1]} -> par")
        for branch in branches:
            lines.append(command(branch))
            edges += [f"  par -> {branch}", f"  {branch} -> join"]
        path.append("join")
    for g in range(rng.randint(1, 2)):
        gate, after = f"gate{g}", f"c{g}"
        lines.append(f'  {gate} [shape=hexagon, label="Go on from {path[-1]}?"]')
        lines.append(command(after))
        edges += [
            f"  {path[-1]} -> {gate}",
            f'  {gate} -> {after} [label="[Y] Yes"]',
            f'  {gate} -> exit [label="[N] No"]',
        ]
        path.append(after)
    edges.append(f"  {path[-1]} -> exit")
    return Workflow("\n".join([*lines, *edges, "}"]), scripts)


@dataclass
class Run:
    index: int
    workflow: Workflow
    witness: Path
    run_id: str = ""
    seen: list[SeenEvent] = field(default_factory=list)
    reconnects: int = 0
    answers: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)
    poke: asyncio.Event = field(default_factory=asyncio.Event)  # look for questions now
    audit: RunAudit | None = None
    witness_lines: list[str] = field(default_factory=list)
    receipts: list[ReceiptRecord] = field(default_factory=list)


@dataclass
class Stats:
    kills: int = 0
    terms: int = 0
    cycles: int = 0
    restarts_s: list[float] = field(default_factory=list)
    sigterm_exit_s: list[float] = field(default_factory=list)
    chain_checks: int = 0  # receipt chain verified intact (after each stop, and at the end)
    chain_entries: int = 0  # at the last check


class Violations(list[str]):
    def add(self, message: str) -> None:
        self.append(message)
        print(f"VIOLATION: {message}", file=sys.stderr, flush=True)


class Soak:
    def __init__(self, options: Options, base: Path) -> None:
        self.options = options
        self.base = base
        self.data_dir = base / "data"
        self.rng = random.Random(options.seed)
        self.answer_rng = random.Random(options.seed + 1)
        self.violations = Violations()
        self.stats = Stats()
        self.runs: list[Run] = []
        self.server: ServerProc | None = None
        self.servers: list[ServerProc] = []
        self.url = ""
        self.up = asyncio.Event()
        self.slot_freed = asyncio.Event()
        self.submitting = True
        self.token = ""
        self.http: httpx.AsyncClient | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.integrity = "not run"

    # ---- the server ----------------------------------------------------------------------

    def _start_server(self) -> ServerProc:
        server = soak_server.start(self.base, self.data_dir, len(self.servers) + 1)
        self.servers.append(server)
        return server

    async def start_server(self) -> None:
        started = time.monotonic()
        self.server = await asyncio.to_thread(self._start_server)
        self.stats.restarts_s.append(time.monotonic() - started)
        self.url = self.server.url
        self.up.set()

    async def stop_server(self, graceful: bool, *, final: bool = False) -> None:
        server = self.server
        assert server is not None
        self.up.clear()
        self.server = None
        if not graceful:
            server.process.kill()
            await asyncio.to_thread(server.process.wait, 10)
            self.stats.kills += 1
            return
        scripts = soak_server.commands_of(server.pid, str(self.base / "witness"))
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.to_thread(server.process.wait, SIGTERM_EXIT_S)
        except Exception:
            server.process.kill()
            await asyncio.to_thread(server.process.wait, 10)
            self.violations.add(f"{server.name} ignored SIGTERM for {SIGTERM_EXIT_S:.0f} s")
            code = 0
        took = time.monotonic() - started
        self.stats.sigterm_exit_s.append(took)
        self.stats.terms += 0 if final else 1
        if code != 0:
            self.violations.add(f"{server.name} exited with status {code} after SIGTERM")
        # Graceful shutdown kills the command subprocess groups (engine.md §5).
        for pid, cmdline in scripts.items():
            if soak_server.process(pid) == (True, cmdline):
                self.violations.add(f"{server.name}: command {cmdline!r} survived SIGTERM")

    async def chaos(self) -> None:
        """The kill/restart cycles."""
        options = self.options
        for cycle in range(1, options.cycles + 1):
            await asyncio.sleep(self.rng.uniform(options.min_uptime_s, options.max_uptime_s))
            graceful = options.sigterm_every > 0 and cycle % options.sigterm_every == 0
            await self.stop_server(graceful)
            await self.verify_chain(f"after cycle {cycle}")
            await self.start_server()
            self.stats.cycles = cycle
            if cycle % 10 == 0 or cycle == options.cycles:
                finished = sum(run.done.is_set() for run in self.runs)
                print(
                    f"cycle {cycle}/{options.cycles}: {self.stats.kills} SIGKILL, "
                    f"{self.stats.terms} SIGTERM, {finished}/{len(self.runs)} runs finished",
                    flush=True,
                )

    async def verify_chain(self, when: str) -> VerifyReport | None:
        """The receipts' hash chain as the stopped server left it (`fabro receipts verify
        --data-dir` reads it the same way)."""
        try:
            report = await asyncio.to_thread(verify_file, self.data_dir / "fabro.db")
        except NoReceipts as exc:
            self.violations.add(f"receipts {when}: {exc}")
            return None
        if not report.ok:
            self.violations.add(
                f"receipt chain {when}: {report.problem} at seq {report.bad_seq}: {report.detail}"
            )
            return None
        self.stats.chain_checks += 1
        self.stats.chain_entries = report.entries_checked
        return report

    # ---- HTTP with retries across restarts -----------------------------------------------

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request, retried on connection errors (the server is down or restarting)."""
        assert self.http is not None
        deadline = time.monotonic() + RETRY_FOR_S
        while True:
            await self.up.wait()
            try:
                return await self.http.request(method, f"{self.url}{path}", **kwargs)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)

    # ---- runs ------------------------------------------------------------------------------

    async def submit(self) -> None:
        """Keep ``--runs`` runs unfinished until submitting stops."""
        while self.submitting:
            while self.submitting and self.unfinished() < self.options.runs:
                await self.create_run(len(self.runs) + 1)
            self.slot_freed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self.slot_freed.wait()

    def unfinished(self) -> int:
        return sum(not run.done.is_set() for run in self.runs)

    async def create_run(self, index: int) -> None:
        witness = self.base / "witness" / f"run{index:04d}.txt"
        workflow = make_workflow(self.rng, witness, f"Soak{index}")
        run = Run(index, workflow, witness)
        self.runs.append(run)
        # The key makes a retried POST (the server died before answering) find its run.
        headers = {"Idempotency-Key": f"soak-{self.options.seed}-{index}"}
        response = await self.request(
            "POST", "/runs", json={"dot_source": workflow.dot}, headers=headers
        )
        if response.status_code not in (200, 201):
            self.violations.add(f"POST /runs: {response.status_code} {response.text[:300]}")
            run.done.set()
            return
        run.run_id = response.json()["id"]
        self._spawn(self.follow(run), f"follow-{index}")
        self._spawn(self.answer(run), f"answer-{index}")

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.violations.add(f"{task.get_name()} crashed: {task.exception()!r}")

    async def follow(self, run: Run) -> None:
        """Follow the run's events to its terminal one, reconnecting with Last-Event-ID."""
        assert self.http is not None
        try:
            while not await self._follow_once(run):
                run.reconnects += 1
                await asyncio.sleep(0.05)
        finally:
            run.done.set()
            run.poke.set()
            self.slot_freed.set()

    async def _follow_once(self, run: Run) -> bool:
        """One connection; True once the terminal event (or an unrecoverable answer) came."""
        assert self.http is not None
        await self.up.wait()
        last = run.seen[-1].seq if run.seen else 0
        headers = {"Last-Event-ID": str(last)} if last else {}
        timeout = httpx.Timeout(REQUEST_TIMEOUT_S, read=SSE_READ_TIMEOUT_S)
        url = f"{self.url}/runs/{run.run_id}/events"
        try:
            async with self.http.stream("GET", url, headers=headers, timeout=timeout) as response:
                if response.status_code != 200:
                    body = (await response.aread()).decode(errors="replace")
                    self.violations.add(
                        f"run {run.index}: events after {last}: {response.status_code} {body}"
                    )
                    return response.status_code < 500
                run.poke.set()  # (re)connected: the run may be waiting at a gate
                parser = FrameParser()
                async for line in response.aiter_lines():
                    frame = parser.feed(line)
                    if frame is None:
                        continue
                    if frame.seq != last + 1:
                        self.violations.add(
                            f"run {run.index}: frame id {frame.id} after {last} "
                            f"(Last-Event-ID {headers.get('Last-Event-ID')})"
                        )
                    event = SeenEvent.parse(frame.seq or 0, frame.data)
                    run.seen.append(event)
                    last = event.seq
                    if event.variant == "InterviewStarted":
                        run.poke.set()
                    if event.variant in TERMINAL:
                        return True
        except httpx.TransportError:
            pass
        return False

    async def answer(self, run: Run) -> None:
        """Answer the run's pending questions when poked (a gate opened, a reconnect) or
        every few seconds; an answer that may have been lost in a crash is asked for again."""
        while not run.done.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_QUESTIONS_S):
                    await run.poke.wait()
            run.poke.clear()
            if run.done.is_set():
                return
            response = await self.request("GET", f"/runs/{run.run_id}/questions")
            if response.status_code != 200:
                self.violations.add(f"run {run.index}: questions {response.status_code}")
                continue
            for question in response.json()["data"]:
                # A little human delay, so some crashes land while a gate waits.
                await asyncio.sleep(self.answer_rng.uniform(0.0, 0.4))
                key = "Y" if self.answer_rng.random() < 0.85 else "N"
                path = f"/runs/{run.run_id}/questions/{question['id']}/answer"
                answered = await self.request("POST", path, json={"selected_option_key": key})
                if answered.status_code == 204:
                    run.answers += 1
                elif answered.status_code != 409:  # 409: answered already (before a crash)
                    self.violations.add(
                        f"run {run.index}: answer {answered.status_code} {answered.text[:200]}"
                    )

    # ---- the whole soak --------------------------------------------------------------------

    async def run(self) -> None:
        options = self.options
        for folder in ("logs", "home", "witness"):
            (self.base / folder).mkdir(parents=True, exist_ok=True)
        key = ensure_key_pair(self.data_dir / "keys")
        self.token = mint_token(key, subject=USER, issuer="fabro-web", ttl_s=24 * 3600)
        soak_server.configure(self.base, USER, max_concurrent_runs=options.runs)
        limits = httpx.Limits(max_connections=4 * options.runs + 20, max_keepalive_connections=50)
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(
            headers=headers, limits=limits, timeout=REQUEST_TIMEOUT_S
        ) as self.http:
            await self.start_server()
            submitter = asyncio.create_task(self.submit(), name="submitter")
            try:
                await self.chaos()
                self.submitting = False
                self.slot_freed.set()
                await submitter
                print("cycles done; waiting for every run to finish", flush=True)
                await self._drain()
                await self.verify()
            finally:
                submitter.cancel()
                for task in list(self.tasks):
                    task.cancel()
                await asyncio.gather(submitter, *self.tasks, return_exceptions=True)
                if self.server is not None:
                    await self.stop_server(graceful=True, final=True)
        self.check_database()
        await self.check_receipts()
        self.check_logs()

    async def _drain(self) -> None:
        try:
            async with asyncio.timeout(self.options.drain_timeout_s):
                for run in self.runs:
                    await run.done.wait()
        except TimeoutError:
            stuck = [run.index for run in self.runs if not run.done.is_set()]
            self.violations.add(
                f"runs not finished {self.options.drain_timeout_s:.0f} s after "
                f"the last restart: {stuck[:20]}"
            )

    async def verify(self) -> None:
        for run in self.runs:
            if not run.run_id:
                continue
            label = f"run {run.index} ({run.run_id})"
            status = (await self.request("GET", f"/runs/{run.run_id}")).json().get("status")
            if status != "completed":
                self.violations.add(f"{label} is {status}")
            replay = await self.replay(run)
            audit = audit_events(replay)
            run.audit = audit
            lines = run.witness.read_text().split() if run.witness.exists() else []
            run.witness_lines = lines
            for problem in [
                *audit.problems,
                *audit_witness(lines, audit, set(run.workflow.commands)),
                *audit_stream(run.seen, replay),
            ]:
                self.violations.add(f"{label}: {problem}")

    async def replay(self, run: Run) -> list[SeenEvent]:
        """Every stored event of a finished run, from a fresh stream from the start."""
        assert self.http is not None
        events: list[SeenEvent] = []
        url = f"{self.url}/runs/{run.run_id}/events"
        async with self.http.stream("GET", url, timeout=60) as response:
            if response.status_code != 200:
                self.violations.add(f"run {run.index}: replay {response.status_code}")
                return events
            parser = FrameParser()
            async for line in response.aiter_lines():
                frame = parser.feed(line)
                if frame is not None:
                    events.append(SeenEvent.parse(frame.seq or 0, frame.data))
        return events

    def check_database(self) -> None:
        tracked = {run.run_id for run in self.runs if run.run_id}
        self.integrity, problems = soak_server.database_problems(self.data_dir, tracked)
        for problem in problems:
            self.violations.add(problem)

    async def check_receipts(self) -> None:
        """Each run's receipts against its witness file and events (soak_checks), and the
        chain: intact, and holding the entries of these receipts and nothing else."""
        report = await self.verify_chain("at the end")
        db = await Database.open(self.data_dir / "fabro.db")
        try:
            for run in self.runs:
                if run.run_id:
                    run.receipts = await Receipts(db).for_run(run.run_id)
        finally:
            await db.close()
        entries = 0
        for run in self.runs:
            entries += sum(1 if r.outcome is None else 2 for r in run.receipts)
            if run.audit is None:
                continue
            scripts = run.workflow.scripts
            rules = soak_server.POLICY_RULES
            for problem in audit_receipts(
                run.receipts, run.witness_lines, run.audit, scripts, rules
            ):
                self.violations.add(f"run {run.index} ({run.run_id}): {problem}")
        if report is not None and report.entries_checked != entries:
            self.violations.add(
                f"the receipt chain has {report.entries_checked} entries, "
                f"the runs' receipts {entries}"
            )

    def check_logs(self) -> None:
        for problem in soak_server.log_problems(self.base / "logs"):
            self.violations.add(problem)


def summary(soak: Soak, wall_s: float) -> list[tuple[str, str]]:
    runs = [run for run in soak.runs if run.run_id]
    audits = [run.audit for run in runs if run.audit is not None]
    witness = [run.witness_lines for run in runs]
    completed = sum(
        1 for run in runs if run.seen and run.seen[-1].variant == "WorkflowRunCompleted"
    )
    # How often one command of one run ran: more than once only when a crash interrupted it.
    repeats = Counter(n for lines in witness for n in Counter(lines).values())
    three_plus = sum(count for times, count in repeats.items() if times >= 3)
    unrecorded = sum(
        run.audit.runs_unrecorded(run.witness_lines) for run in runs if run.audit is not None
    )
    restarts = soak.stats.restarts_s
    terms = soak.stats.sigterm_exit_s
    outcomes = Counter(r.outcome or "open" for run in runs for r in run.receipts)
    return [
        ("seed", str(soak.options.seed)),
        ("cycles", str(soak.stats.cycles)),
        ("SIGKILLs", str(soak.stats.kills)),
        ("SIGTERMs", str(soak.stats.terms)),
        ("runs completed", f"{completed}/{len(runs)}"),
        ("recoveries (RunResumed)", str(sum(a.recoveries for a in audits))),
        ("stages executed", str(sum(a.executions for a in audits))),
        ("re-executed interrupted stages", str(sum(a.reexecuted for a in audits))),
        ("witness lines", str(sum(len(lines) for lines in witness))),
        ("commands run twice / 3+ times", f"{repeats.get(2, 0)} / {three_plus}"),
        ("command runs before their StageStarted commit", str(unrecorded)),
        ("receipts applied / open (interrupted)", f"{outcomes['applied']} / {outcomes['open']}"),
        ("receipts failed / refused", f"{outcomes['failed']} / {outcomes['refused']}"),
        (
            "receipt chain verified intact",
            f"{soak.stats.chain_checks} times, {soak.stats.chain_entries} entries at the end",
        ),
        ("gate answers accepted", str(sum(run.answers for run in runs))),
        ("SSE reconnects", str(sum(run.reconnects for run in runs))),
        ("events checked", str(sum(len(run.seen) for run in runs))),
        ("restart to listening, mean", f"{_mean(restarts):.2f} s"),
        ("SIGTERM to exit, max", f"{max(terms, default=0.0):.2f} s"),
        ("integrity_check", soak.integrity),
        ("violations", str(len(soak.violations))),
        ("wall time", f"{wall_s:.1f} s"),
    ]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="scripts/soak", description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=100, help="kill/restart cycles (100)")
    parser.add_argument("--runs", type=int, default=20, help="runs kept in flight (20)")
    parser.add_argument("--seed", type=int, default=None, help="RNG seed (random)")
    parser.add_argument(
        "--sigterm-every", type=int, default=10, help="every Nth stop is SIGTERM (10; 0: never)"
    )
    parser.add_argument("--min-uptime", type=float, default=0.3, help="seconds (0.3)")
    parser.add_argument("--max-uptime", type=float, default=4.0, help="seconds (4.0)")
    parser.add_argument("--drain-timeout", type=float, default=120.0, help="seconds (120)")
    parser.add_argument("--workdir", type=Path, default=None, help="(a new temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    if args.cycles < 0 or args.runs < 1 or not 0 <= args.min_uptime <= args.max_uptime:
        parser.error("need --cycles >= 0, --runs >= 1, 0 <= --min-uptime <= --max-uptime")
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    return Options(
        cycles=args.cycles,
        runs=args.runs,
        seed=seed,
        sigterm_every=args.sigterm_every,
        min_uptime_s=args.min_uptime,
        max_uptime_s=args.max_uptime,
        drain_timeout_s=args.drain_timeout,
        workdir=args.workdir,
        keep=args.keep,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    base = options.workdir or Path(tempfile.mkdtemp(prefix="fabro-soak-"))
    base.mkdir(parents=True, exist_ok=True)
    print(
        f"soak: seed {options.seed}, {options.cycles} cycles, {options.runs} runs in flight, "
        f"SIGTERM every {options.sigterm_every} cycles; work folder {base}",
        flush=True,
    )
    soak = Soak(options, base)
    started = time.monotonic()
    try:
        asyncio.run(soak.run())
    except Exception as exc:  # the soak itself broke: still print what it saw
        soak.violations.add(f"soak aborted: {exc!r}")
    rows = summary(soak, time.monotonic() - started)
    width = max(len(name) for name, _ in rows)
    print()
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    if soak.violations:
        print(f"\nFAILED: {len(soak.violations)} violations (work folder kept: {base})")
        for violation in soak.violations[:50]:
            print(f"- {violation}")
        return 1
    print(
        "\nOK: every run completed, no completed stage ran twice, every event exactly once, "
        "every executed command one receipt"
    )
    if not options.keep and options.workdir is None:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
