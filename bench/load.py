"""`scripts/load`: many clients against one `fabro serve` while hundreds of runs execute.

Starts `fabro serve` as a subprocess (fresh data dir, free port on 127.0.0.1, JWT, simulated LLM
backend, ``max_concurrent_runs`` high enough that every run executes at once), submits
``--runs`` runs of a looping workflow (command stages with short sleeps, a parallel fan-out with
a fan-in, a human gate that loops back or finishes) and then drives ``--clients`` concurrent
clients for ``--duration`` seconds. Each client loops over a weighted mix of operations:

- list runs (``GET /runs`` with random pagination and sometimes ``?status=``);
- get a run (``GET /runs/{id}``);
- follow events (``GET /runs/{id}/events`` from a random ``Last-Event-ID``, read a few frames,
  check that their ids follow on without a gap, disconnect);
- submit a run (``POST /runs``: plain, with a fresh ``Idempotency-Key``, replaying a used key
  (200 expected) or reusing a key with another body (409 expected));
- answer a pending question (``GET /runs/{id}/questions``, then ``POST .../answer``), which keeps
  the gates flowing; an answer that loses the race to another client gets the spec's 409 and is
  counted apart, not as an error.

Every answer that is accepted is checked once more (the question no longer pending), every new
run is read back at once, idempotent replays must name the run of their key, list pages must be
ordered and filtered, and event ids must follow the Last-Event-ID without a gap. After the load,
every live run must reach its gate (none stuck) and answering "Done" everywhere must complete all.

The test fails (exit status 1) on any unexpected status or transport error, any broken check
above, any "database is locked" in a response or in the server log, any traceback or WARNING,
ERROR or CRITICAL line in the server log, and any run that failed or was cancelled.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.api import Fabro, fabro_server
from bench.loadclient import Client, Shared, run_body
from bench.loadreport import Outcome, Tally, report, scan_log

SEED_CONCURRENCY = 16
LIVE_STATUSES = "queued,starting,running,paused"
SETTLE_S = 60.0  # after the load, time for every live run to reach its gate, then to finish


@dataclass(frozen=True)
class Params:
    clients: int
    duration_s: float
    runs: int
    max_concurrent_runs: int
    seed: int
    keep: Path | None = None


# ---- phases ------------------------------------------------------------------------------------


async def seed_runs(fabro: Fabro, shared: Shared, count: int) -> None:
    gate = asyncio.Semaphore(SEED_CONCURRENCY)
    async with fabro.client(timeout=60) as http:

        async def one() -> None:
            async with gate:
                started = time.perf_counter()
                response = await http.post("/runs", json=run_body(shared.rng))
                elapsed = (time.perf_counter() - started) * 1000
                shared.tally.check_body(response.text)
                if response.status_code == 201:
                    shared.tally.record("POST /runs (seed)", elapsed, "ok")
                    shared.run_ids.append(response.json()["id"])
                else:
                    detail = f"{response.status_code} {response.text}"
                    shared.tally.record("POST /runs (seed)", elapsed, "error", detail)

        await asyncio.gather(*(one() for _ in range(count)))
    if not shared.run_ids:
        raise RuntimeError("no run could be created")


async def live_runs(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Every run that is not terminal yet (paged through GET /runs)."""
    found: list[dict[str, Any]] = []
    while True:
        params: dict[str, str | int] = {
            "page[limit]": 100,
            "page[offset]": len(found),
            "status": LIVE_STATUSES,
        }
        page = await http.get("/runs", params=params)
        page.raise_for_status()
        body = page.json()
        found += body["data"]
        if not body["meta"]["has_more"]:
            return found


async def settle_and_drain(fabro: Fabro, outcome: Outcome) -> None:
    """After the load: every started run must reach its gate (none stuck); answering "Done"
    wherever a question waits must then complete them all (queued ones as slots free up)."""

    def describe(run: dict[str, Any]) -> str:
        return f"{run['id']} {run['run_status']} at {run.get('current_node')}"

    async with fabro.client(timeout=60) as http:
        deadline = time.perf_counter() + SETTLE_S
        while True:
            live = await live_runs(http)
            moving = [
                r for r in live if r["run_status"] != "queued" and "pending_question" not in r
            ]
            if not moving:
                break
            if time.perf_counter() > deadline:
                outcome.stuck += [describe(run) for run in moving]
                return
            await asyncio.sleep(0.2)
        deadline = time.perf_counter() + SETTLE_S
        gate = asyncio.Semaphore(SEED_CONCURRENCY)
        answered: set[str] = set()

        async def done(run: dict[str, Any]) -> None:
            async with gate:
                path = f"/runs/{run['id']}/questions/{run['pending_question']['id']}/answer"
                response = await http.post(path, json={"selected_option_key": "D"})
                if response.status_code != 204:
                    outcome.stuck.append(f"{run['id']}: answer {response.status_code}")

        while live:
            waiting = [r for r in live if "pending_question" in r and r["id"] not in answered]
            answered.update(run["id"] for run in waiting)
            await asyncio.gather(*(done(run) for run in waiting))
            if time.perf_counter() > deadline:
                outcome.stuck += [describe(run) for run in live]
                return
            await asyncio.sleep(0.2)
            live = await live_runs(http)


async def final_state(fabro: Fabro, outcome: Outcome) -> None:
    """Every run's final status (paged through GET /runs) and the errors of failed ones."""
    async with fabro.client(timeout=60) as http:
        offset = 0
        while True:
            params = {"page[limit]": 100, "page[offset]": offset}
            page = await http.get("/runs", params=params)
            page.raise_for_status()
            body = page.json()
            for run in body["data"]:
                outcome.statuses[run["run_status"]] = outcome.statuses.get(run["run_status"], 0) + 1
                if run["run_status"] == "failed":
                    outcome.failed_messages.append(f"{run['id']}: {run['error']['message']}")
            if not body["meta"]["has_more"]:
                return
            offset += 100


async def drive(fabro: Fabro, params: Params, shared: Shared, outcome: Outcome) -> None:
    await seed_runs(fabro, shared, params.runs)
    outcome.runs_seeded = len(shared.run_ids)
    clients = [Client(fabro, shared) for _ in range(params.clients)]
    started = time.perf_counter()
    until = started + params.duration_s
    await asyncio.gather(*(client.loop(until) for client in clients))
    outcome.seconds = time.perf_counter() - started
    outcome.runs_submitted = shared.submitted
    await final_state(fabro, outcome)
    outcome.completed_under_load = outcome.statuses.get("completed", 0)
    outcome.statuses.clear()
    drain_started = time.perf_counter()
    await settle_and_drain(fabro, outcome)
    outcome.drain_s = time.perf_counter() - drain_started
    await final_state(fabro, outcome)


def run_load(params: Params, base: Path) -> tuple[Tally, Outcome]:
    shared = Shared(random.Random(params.seed))
    outcome = Outcome()
    with fabro_server(base, "load", params.max_concurrent_runs) as fabro:
        asyncio.run(drive(fabro, params, shared, outcome))
    fabro.proc.stop()
    outcome.server_exit = fabro.proc.process.returncode
    for stream in ("stdout", "stderr"):
        scan_log((base / "load" / f"load.{stream}.log").read_text(errors="replace"), outcome)
    return shared.tally, outcome


def parse_args(argv: list[str] | None) -> Params:
    parser = argparse.ArgumentParser(
        prog="scripts/load",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of client load")
    parser.add_argument("--runs", type=int, default=200, help="runs submitted before the load")
    parser.add_argument(
        "--max-concurrent-runs",
        type=int,
        default=0,
        help="the server's limit (default: 4 x --runs, at least 100, so no run waits in queue)",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of the operation mix")
    parser.add_argument(
        "--keep", type=Path, help="keep the server's data dir and logs in this (new) folder"
    )
    args = parser.parse_args(argv)
    limit = args.max_concurrent_runs or max(100, 4 * args.runs)
    return Params(args.clients, args.duration, args.runs, limit, args.seed, args.keep)


def main(argv: list[str] | None = None) -> int:
    params = parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    title = (
        f"load {stamp}: {params.clients} clients x {params.duration_s:g} s against fabro serve "
        f"on 127.0.0.1 ({params.runs} seeded runs, max_concurrent_runs = "
        f"{params.max_concurrent_runs}, seed {params.seed})"
    )
    with tempfile.TemporaryDirectory(prefix="fabro-load-") as folder:
        base = Path(folder) if params.keep is None else params.keep
        base.mkdir(parents=True, exist_ok=True)
        try:
            tally, outcome = run_load(params, base)
        except (RuntimeError, httpx.HTTPError) as exc:
            print(f"load failed: {exc}", file=sys.stderr)
            return 1
    text, passed = report(title, tally, outcome)
    print(text)
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
