"""`scripts/bench ui`: the web UI's runs board, against its goals.

(a) Server time to render the board (`GET /ui/`, and the same board filtered by a label)
    with R runs stored (default 10,000: a mix of statuses, labels, users and workflows, one
    in twenty waiting at a gate), inserted through the store as real rows in a SQLite file.
    The app runs in-process and each request goes through its ASGI stack (Quart's test
    client, signed in with a real session), so the time is the server's; median and p95 over
    Q requests. Goal: <= 200 ms.
(b) The delay from an event's commit to the browser's DOM update: a real `fabro serve` on
    127.0.0.1, headless Chromium (Debian's, through Playwright) signed in with the board open,
    N runs of a one-gate workflow started, then their gates answered, over the API. A
    MutationObserver in the page notes when each run's card first shows in a column
    (`performance.timeOrigin + performance.now()`, the wall clock); the event's stored `ts`
    (stamped just before its commit, so the delay is if anything overstated) is read from the
    database afterwards. Three changes per run: queued (its card shows), waiting at the gate,
    completed. Goal: p95 <= 500 ms.

`--quick` shrinks everything for a smoke test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

import httpx

from bench.chromium import CHROMIUM, CHROMIUM_ARGS
from bench.loadgen import (
    UNLIMITED_RATES,
    ServerProc,
    child_env,
    free_port,
    percentile,
    python_command,
    spawn,
)
from bench.report import print_rows, verdict
from fabro.auth.keys import ensure_key_pair, mint_token
from fabro.clock import format_ts, parse_ts
from fabro.config import load_settings
from fabro.services import Services
from fabro.storage import runs
from fabro.storage.records import RunRecord

USER = "bench"
RENDER_GOAL_MS = 200.0
DELAY_P95_GOAL_MS = 500.0
SPACING_S = 0.1  # between two runs started (or two gates answered)
WAIT_S = 60.0  # the longest the browser may take to show every change of a phase

GATE = """digraph BoardBench {
  start [shape=Mdiamond]
  gate [shape=hexagon, label="Go on?"]
  exit [shape=Msquare]
  start -> gate
  gate -> exit [label="[Y] Yes"]
}"""

# 20 runs of the mix: mostly finished, some going, as a board that has been used for a while.
MIX: tuple[str, ...] = ("completed",) * 11 + ("failed",) * 2 + ("cancelled",)
MIX += ("running", "running", "paused", "queued", "queued", "starting")
WAITING_SLOT = MIX.index("running")  # the runs in this place of the mix wait at a gate
TEAMS = ("ops", "web", "data", "infra")
USERS = ("alice", "bob", "carol")
WORKFLOWS = ("deploy", "review", "triage", "release", None)

# Notes, for each card, when it first shows at all and in each column (the wall clock, in ms).
OBSERVER = """() => {
  window.__seen = {};
  const note = (card) => {
    const now = performance.timeOrigin + performance.now();
    const id = card.dataset.runId;
    for (const key of [id + ":" + card.dataset.column, id + ":shown"]) {
      if (!(key in window.__seen)) window.__seen[key] = now;
    }
  };
  new MutationObserver((records) => {
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (node.nodeType !== 1) continue;
        if (node.matches(".board-card")) note(node);
        for (const card of node.querySelectorAll(".board-card")) note(card);
      }
    }
  }).observe(document.getElementById("board"), { childList: true, subtree: true });
}"""
CHANGE_NAMES = {"shown": "shown", "waiting": "in 'waiting'", "completed": "in 'completed'"}
# The event that shows a run's card, or moves it into a column.
MOVES = {"RunQueued": "shown", "InterviewStarted": "waiting", "WorkflowRunCompleted": "completed"}


@dataclass(frozen=True)
class Params:
    stored: int = 10_000
    requests: int = 40
    live_runs: int = 30


@dataclass
class Results:
    render_ms: dict[str, list[float]] = field(default_factory=dict)
    delays_ms: dict[str, list[float]] = field(default_factory=dict)  # by column
    missed: int = 0  # changes the page showed straight in a later column
    # The machine's 1-minute load average when the bench began: a busy machine slows (a).
    load: float = field(default_factory=lambda: os.getloadavg()[0])


def server_toml(data: Path, max_concurrent_runs: int) -> str:
    return (
        f'data_dir = "{data}"\n'
        f"max_concurrent_runs = {max_concurrent_runs}\n"
        '[api]\nauthentication_strategies = ["jwt"]\n'
        f'[web.auth]\nallowed_usernames = ["{USER}"]\n' + UNLIMITED_RATES
    )


# ---- (a) rendering the board with many runs stored ---------------------------------------------


def stored_run(i: int, start: datetime) -> RunRecord:
    status = MIX[i % len(MIX)]
    ts = format_ts(start + timedelta(seconds=i))
    return RunRecord(
        id=f"R{i:08d}",
        status=status,  # type: ignore[arg-type]
        title=f"Bench run {i}",
        graph_name="BoardBench",
        dot_source=GATE,
        prepared_graph={"nodes": []},
        created_at=ts,
        updated_at=ts,
        workflow_slug=WORKFLOWS[i % len(WORKFLOWS)],
        labels={"team": TEAMS[i % len(TEAMS)], "n": str(i % 10)},
        created_by=USERS[i % len(USERS)],
        current_node="gate" if status in ("running", "paused") else None,
    )


async def fill(services: Services, count: int) -> None:
    """``count`` runs, in batches of 1,000 per transaction; one in twenty waits at a gate."""
    start = datetime.now(UTC) - timedelta(seconds=count)
    for first in range(0, count, 1000):
        batch = [stored_run(i, start) for i in range(first, min(first + 1000, count))]

        def insert(tx: Any, batch: list[RunRecord] = batch) -> None:
            for run in batch:
                runs.insert_run(tx, run)

        await services.db.write(insert)
    store = services.store
    asks = [
        store.create_question(
            run_id=f"R{i:08d}",
            stage_id="gate",
            node_id="gate",
            text="Go on?",
            question_type="multiple_choice",
            options=[{"key": "Y", "label": "Yes"}],
            allow_freeform=True,
            created_at=format_ts(start),
        )
        for i in range(count)
        if i % len(MIX) == WAITING_SLOT
    ]
    await store.commit(lambda tx: [ask(tx) for ask in asks])


async def bench_render(base: Path, params: Params, results: Results) -> None:
    from fabro.app import create_app
    from fabro.ui.auth import COOKIE, open_session

    folder = base / "render"
    (folder / "home").mkdir(parents=True)
    ensure_key_pair(folder / "data" / "keys")
    config = folder / "server.toml"
    config.write_text(server_toml(folder / "data", 4), encoding="utf-8")
    env = {"HOME": str(folder / "home")}
    settings = load_settings(config, env=env).settings
    # Not started: no scheduler, so the stored runs stay exactly as stored.
    services = await Services.open(settings, env=env)
    try:
        await fill(services, params.stored)
        app = create_app(settings, services)
        async with app.test_app():
            client = app.test_client()
            cookie, _session = await open_session(services.ui_sessions, USER, "token")
            client.set_cookie("localhost", COOKIE, cookie)
            for label, path in (("", "/ui/"), (", filtered by a label", "/ui/?label=team%3Dops")):
                results.render_ms[label] = await time_requests(client, path, params.requests)
    finally:
        await services.close()


async def time_requests(client: Any, path: str, count: int) -> list[float]:
    times = []
    for n in range(count + 1):
        started = time.perf_counter()
        response = await client.get(path)
        await response.get_data()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered {response.status_code}")
        if n:  # the first one warms the caches
            times.append(elapsed)
    return times


# ---- (b) from an event's commit to the page --------------------------------------------------


@contextlib.contextmanager
def live_server(base: Path, max_concurrent_runs: int) -> Iterator[tuple[ServerProc, str, Path]]:
    """A `fabro serve` with JWT for USER: the process, a token, its database file."""
    folder = base / "live"
    data = folder / "data"
    (folder / "home").mkdir(parents=True)
    key = ensure_key_pair(data / "keys")
    token = mint_token(key, subject=USER, issuer="fabro-web", ttl_s=3600)
    config = folder / "server.toml"
    config.write_text(server_toml(data, max_concurrent_runs), encoding="utf-8")
    port = free_port()
    command = python_command("-m", "fabro", "serve", "--host", "127.0.0.1", "--port", str(port))
    command += ["--config", str(config), "--data-dir", str(data)]
    proc = spawn("fabro", command, folder, child_env(folder / "home"), port)
    try:
        yield proc, token, data / "fabro.db"
    finally:
        proc.stop()


def bench_live(base: Path, params: Params, results: Results) -> None:
    from playwright.sync_api import Error as BrowserError

    try:
        run_ids, seen, db_path = in_browser(base, params)
    except BrowserError as exc:  # Playwright's timeouts among them
        raise RuntimeError(f"the browser: {exc.message}") from exc
    measure_delays(db_path, run_ids, seen, results)


def in_browser(base: Path, params: Params) -> tuple[list[str], dict[str, float], Path]:
    """The run ids, when each card first showed in each column, and the database file."""
    from playwright.sync_api import sync_playwright

    if not os.access(CHROMIUM, os.X_OK):
        raise RuntimeError(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with (
        live_server(base, params.live_runs + 4) as (proc, token, db_path),
        sync_playwright() as driver,
    ):
        browser = driver.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(base_url=proc.url)
            page.goto("/ui/signin")
            page.get_by_label("JWT").fill(token)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_function("() => document.getElementById('board')?.dataset.live === 'on'")
            page.evaluate(OBSERVER)
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=proc.url, headers=headers, timeout=10) as http:
                run_ids = drive(page, http, params.live_runs)
            seen = page_seen(page)
        finally:
            browser.close()
    return run_ids, seen, db_path


def page_seen(page: Any) -> dict[str, float]:
    seen: dict[str, float] = page.evaluate("() => window.__seen")
    return seen


def drive(page: Any, http: httpx.Client, count: int) -> list[str]:
    """Start ``count`` runs, wait until each waits on the board, answer them all, wait until
    each shows completed; the run ids."""
    run_ids = []
    for _ in range(count):
        created = http.post("/runs", json={"dot_source": GATE, "labels": {"bench": "ui"}})
        created.raise_for_status()
        run_ids.append(created.json()["id"])
        time.sleep(SPACING_S)
    wait_for_cards(page, run_ids, "waiting")
    for run_id in run_ids:
        answered = http.post(
            f"/runs/{run_id}/questions/q-1/answer", json={"selected_option_key": "Y"}
        )
        answered.raise_for_status()
        time.sleep(SPACING_S)
    wait_for_cards(page, run_ids, "completed")
    return run_ids


def wait_for_cards(page: Any, run_ids: list[str], column: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while True:
        seen = page_seen(page)
        missing = [run_id for run_id in run_ids if f"{run_id}:{column}" not in seen]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(missing)} cards never showed in column {column!r}")
        time.sleep(0.05)


def measure_delays(
    db_path: Path, run_ids: list[str], seen: dict[str, float], results: Results
) -> None:
    marks = ", ".join("?" for _ in run_ids)
    with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as db:
        rows = db.execute(
            "SELECT run_id, variant, ts FROM run_events WHERE child_depth = 0"
            f" AND variant IN ('RunQueued', 'InterviewStarted', 'WorkflowRunCompleted')"
            f" AND run_id IN ({marks})",
            run_ids,
        ).fetchall()
    for run_id, variant, ts in rows:
        column = MOVES[variant]
        shown = seen.get(f"{run_id}:{column}")
        if shown is None:  # it moved on before its card was read: shown in a later column only
            results.missed += 1
            continue
        committed = parse_ts(ts).timestamp() * 1000
        results.delays_ms.setdefault(column, []).append(shown - committed)


# ---- table -------------------------------------------------------------------------------------


def rows_of(params: Params, results: Results) -> list[tuple[str, str, str, str]]:
    rows = []
    for label, times in results.render_ms.items():
        p95 = percentile(times, 95)
        name = f"GET /ui/ with {params.stored:,} runs{label}"
        rows.append((f"{name}, median", f"{median(times):.1f} ms", "", ""))
        rows.append(
            (
                f"{name}, p95",
                f"{p95:.1f} ms",
                f"<= {RENDER_GOAL_MS:.0f} ms",
                verdict(p95 <= RENDER_GOAL_MS),
            )
        )
    every = [delay for delays in results.delays_ms.values() for delay in delays]
    for column, delays in results.delays_ms.items():
        rows.append(
            (
                f"commit -> card {CHANGE_NAMES[column]}, p50 / max",
                f"{percentile(delays, 50):.0f} / {max(delays):.0f} ms",
                "",
                f"{len(delays)} changes",
            )
        )
    if every:
        p95 = percentile(every, 95)
        p50 = percentile(every, 50)
        rows.append(("commit -> DOM update, all changes, p50", f"{p50:.0f} ms", "", ""))
        rows.append(
            (
                "commit -> DOM update, all changes, p95",
                f"{p95:.0f} ms",
                f"<= {DELAY_P95_GOAL_MS:.0f} ms",
                verdict(p95 <= DELAY_P95_GOAL_MS),
            )
        )
    return rows


def print_table(params: Params, results: Results) -> None:
    rows = rows_of(params, results)
    print(
        f"ui: the runs board; (a) {params.stored:,} runs stored, {params.requests} requests per "
        f"row, in-process; (b) fabro serve + headless Chromium, {params.live_runs} runs started "
        f"and answered; load average {results.load:.1f} on {os.cpu_count()} CPUs at the start"
    )
    print_rows(rows)
    if results.missed:
        print(f"note: {results.missed} changes were shown straight in a later column (not timed)")


# ---- main --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> Params:
    parser = argparse.ArgumentParser(
        prog="scripts/bench ui",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--stored", type=int, default=10_000, help="runs stored for (a)")
    parser.add_argument("--requests", type=int, default=40, help="requests per row of (a)")
    parser.add_argument("--runs", type=int, default=30, help="runs started for (b)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    args = parser.parse_args(argv)
    if args.quick:
        return Params(stored=500, requests=3, live_runs=3)
    if min(args.stored, args.requests, args.runs) < 1:
        parser.error("--stored, --requests and --runs: at least 1")
    return Params(stored=args.stored, requests=args.requests, live_runs=args.runs)


def main(argv: list[str] | None = None) -> int:
    params = parse_args(argv)
    results = Results()
    with tempfile.TemporaryDirectory(prefix="fabro-bench-ui-") as folder:
        try:
            asyncio.run(bench_render(Path(folder), params, results))
            bench_live(Path(folder), params, results)
        except (RuntimeError, TimeoutError, httpx.HTTPError) as exc:
            print(f"bench ui failed: {exc}", file=sys.stderr)
            return 1
    print_table(params, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
