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

With ``--webhooks N``, N webhooks subscribed to every event type (one local receiver that
checks each signature) must each receive every event the database holds once the runs are
done: none missing, none under two delivery ids.

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
from bench.loadgen import WebhookSink, webhook_event_ids
from bench.loadreport import Outcome, Tally, report, scan_log
from fabro.webhooks.events import EVENT_TYPES

SEED_CONCURRENCY = 16
LIVE_STATUSES = "queued,starting,running,paused"
SETTLE_S = 60.0  # after the load, time for every live run to reach its gate, then to finish
# After the drain, webhook deliveries are awaited as long as they keep arriving: the check
# is that none is lost, whatever the backlog; a gap this long with none arriving fails it.
DELIVERY_STALL_S = 30.0
WEBHOOK_TYPES = list(EVENT_TYPES)


@dataclass(frozen=True)
class Params:
    clients: int
    duration_s: float
    runs: int
    max_concurrent_runs: int
    seed: int
    keep: Path | None = None
    webhooks: int = 0  # subscriptions to every event type, each with its own receiver path


@dataclass
class Hooks:
    """`--webhooks N`: what the receivers got, against what the database says happened."""

    sink: WebhookSink
    db_path: Path
    subscribed: int = 0
    events: int = 0  # events each subscription should get
    missing: int = 0  # summed over the subscriptions
    twice: int = 0  # events received under two delivery ids
    bad_signatures: int = 0
    wait_s: float = 0.0  # from the drain's end until the last delivery arrived
    load_s: float = 0.0  # from the first run's submission until the drain's end

    def problems(self) -> list[str]:
        found = []
        if self.subscribed != self.sink_count:
            found.append(f"{self.sink_count - self.subscribed} webhooks not created")
        if self.missing:
            found.append(f"{self.missing} webhook deliveries missing")
        if self.twice:
            found.append(f"{self.twice} events delivered under two delivery ids")
        if self.bad_signatures:
            found.append(f"{self.bad_signatures} deliveries with a bad signature")
        return found

    @property
    def sink_count(self) -> int:
        return len(self.sink.secrets)

    def line(self) -> str:
        return (
            f"webhooks: {self.subscribed} subscriptions to every event type; {self.events:,} "
            f"events each; {self.sink.requests:,} deliveries received; missing {self.missing}, "
            f"queued twice {self.twice}, bad signatures {self.bad_signatures}; the last "
            f"arrived {self.wait_s:.1f} s after the drain "
            f"({self.sink.requests / max(self.load_s + self.wait_s, 0.001):,.0f} deliveries/s)"
        )


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


async def subscribe(fabro: Fabro, hooks: Hooks) -> None:
    async with fabro.client(timeout=60) as http:
        for index in range(hooks.sink_count):
            body = {"url": hooks.sink.url(index), "event_types": WEBHOOK_TYPES}
            response = await http.post("/webhooks", json=body)
            if response.status_code == 201:
                hooks.sink.secrets[index] = response.json()["secret"]
                hooks.subscribed += 1


async def await_deliveries(hooks: Hooks) -> None:
    """Until every subscription got every event the database holds (or DELIVERED_S)."""
    started = time.perf_counter()
    expected = await asyncio.to_thread(webhook_event_ids, hooks.db_path)
    hooks.events = len(expected)
    last_count, last_change = -1, started
    while True:
        missing = sum(len(expected - got) for got in hooks.sink.received()[: hooks.subscribed])
        now = time.perf_counter()
        if hooks.sink.requests != last_count:
            last_count, last_change = hooks.sink.requests, now
        if not missing or now - last_change > DELIVERY_STALL_S:
            break
        await asyncio.sleep(0.2)
    hooks.wait_s = time.perf_counter() - started
    hooks.missing = missing
    hooks.twice = hooks.sink.twice_queued()
    hooks.bad_signatures = hooks.sink.bad_signatures


async def drive(
    fabro: Fabro, params: Params, shared: Shared, outcome: Outcome, hooks: Hooks | None
) -> None:
    if hooks is not None:
        await subscribe(fabro, hooks)
    load_started = time.perf_counter()
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
    if hooks is not None:
        hooks.load_s = time.perf_counter() - load_started
        await await_deliveries(hooks)


def run_load(params: Params, base: Path) -> tuple[Tally, Outcome, Hooks | None]:
    shared = Shared(random.Random(params.seed))
    outcome = Outcome()
    hooks = None
    if params.webhooks:
        hooks = Hooks(WebhookSink(params.webhooks), base / "load" / "data" / "fabro.db")
    try:
        with fabro_server(base, "load", params.max_concurrent_runs) as fabro:
            asyncio.run(drive(fabro, params, shared, outcome, hooks))
        fabro.proc.stop()
    finally:
        if hooks is not None:
            hooks.sink.close()
    outcome.server_exit = fabro.proc.process.returncode
    for stream in ("stdout", "stderr"):
        scan_log((base / "load" / f"load.{stream}.log").read_text(errors="replace"), outcome)
    return shared.tally, outcome, hooks


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
    parser.add_argument(
        "--webhooks",
        type=int,
        default=0,
        help="subscribe N webhooks to every event; every event must reach each, once",
    )
    args = parser.parse_args(argv)
    limit = args.max_concurrent_runs or max(100, 4 * args.runs)
    return Params(
        args.clients, args.duration, args.runs, limit, args.seed, args.keep, args.webhooks
    )


def main(argv: list[str] | None = None) -> int:
    params = parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    title = (
        f"load {stamp}: {params.clients} clients x {params.duration_s:g} s against fabro serve "
        f"on 127.0.0.1 ({params.runs} seeded runs, max_concurrent_runs = "
        f"{params.max_concurrent_runs}, seed {params.seed}"
        + (f", {params.webhooks} webhooks)" if params.webhooks else ")")
    )
    with tempfile.TemporaryDirectory(prefix="fabro-load-") as folder:
        base = Path(folder) if params.keep is None else params.keep
        base.mkdir(parents=True, exist_ok=True)
        try:
            tally, outcome, hooks = run_load(params, base)
        except (RuntimeError, httpx.HTTPError) as exc:
            print(f"load failed: {exc}", file=sys.stderr)
            return 1
    text, passed = report(title, tally, outcome)
    if hooks is not None:  # its line before the verdict, which its problems can turn
        lines = text.splitlines()
        problems = hooks.problems()
        verdict = lines[-1]
        if problems:
            verdict = ("FAIL: " if passed else verdict + "; ") + "; ".join(problems)
            passed = False
        text = "\n".join([*lines[:-1], hooks.line(), verdict])
    print(text)
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
