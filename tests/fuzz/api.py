"""API fuzzing: schemathesis against a real `fabro serve --dry-run` and its own /openapi.json.

One round = the schemathesis CLI (all phases: examples, coverage, fuzzing, stateful) over every
operation of the document, with a valid bearer token, checking every response with
schemathesis' standard checks (not_a_server_error, status_code_conformance,
content_type_conformance, response_headers_conformance, response_schema_conformance) plus
fabro's own (tests/fuzz/hooks.py: the error envelope and the common headers).

The server is started with ``--dry-run`` (simulated LLMs, command nodes skipped: a fuzzed
workflow can never run a shell command or call a provider) and ``max_concurrent_runs = 3``, and
is seeded with runs in every state a client can see (completed, cancelled, running at a human
gate, paused, queued), a chat session and registry workflows. Their ids reach the fuzzer through
schemathesis dictionaries bound with probability 0.5 to the path parameters, so about half the
requests hit real resources instead of 404s; valid DOT sources and workflow slugs are bound the
same way to POST /runs bodies, so fuzzed runs really start (and may wait at a gate or queue).

Streams: every request has a timeout (``REQUEST_TIMEOUT_S``; ``STREAM_TIMEOUT_S`` for the SSE
operations). Schemathesis reads an event stream until it ends, sends ``MAX_STREAM_EVENTS``
events or the timeout passes, then closes it and validates the events it got, so a stream that
stays open (a queued or waiting run, a chat session) costs at most the timeout, never a hang.

The only 5xx accepted is the 501 that api.md §5.1 requires from LATER routes.

Usage: ``python -m tests.fuzz.api [--requests N] [--examples N] [--seed N]`` (scripts/fuzz).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import tomli_w

from fabro.api.routes import ROUTES
from tests.e2e.runs_support import token_for, wait_until
from tests.e2e.serverproc import REPO_ROOT, ServerProcess, start_server

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "fabro_error_envelope",
    "fabro_common_headers",
)
REQUEST_TIMEOUT_S = 10.0
STREAM_TIMEOUT_S = 1.0
MAX_STREAM_EVENTS = 20
MAX_CONCURRENT_RUNS = 3
KNOWN_PROBABILITY = 0.5
LATER_EXAMPLES = 5
STREAMS = {"streamRunEvents", "streamSessionEvents", "streamEvents", "createCompletion"}
LATER = {route.operation_id for route in ROUTES if route.mark == "LATER"}
USER = "alice"
SCHEMA = "/openapi.json"  # the document schemathesis reads (and does not test)

SIMPLE_DOT = """digraph Simple {
  graph [goal="Say hello"]
  start [shape=Mdiamond]
  work [label="Work", prompt="Do the $goal"]
  exit [shape=Msquare]
  start -> work -> exit
}"""
GATE_DOT = """digraph Gate {
  start [shape=Mdiamond]
  approve [shape=hexagon, label="Ship it?"]
  ship [label="Ship", prompt="Ship it"]
  exit [shape=Msquare]
  start -> approve
  approve -> ship [label="[Y] Yes"]
  approve -> exit [label="[N] No"]
  ship -> exit
}"""
FAN_DOT = """digraph Fan {
  start [shape=Mdiamond]
  fan [shape=component]
  a [prompt="A"]
  b [shape=parallelogram, script="echo never runs in dry-run"]
  join [shape=tripleoctagon]
  exit [shape=Msquare]
  start -> fan
  fan -> a -> join
  fan -> b -> join
  join -> exit
}"""
BROKEN_DOT = "digraph Broken { start [shape=Mdiamond] -> }"
WORKFLOWS = {
    "hello": (SIMPLE_DOT, 'name = "Hello"\ngoal = "Say hello"\n[labels]\nteam = "fuzz"\n'),
    "fix_build": (SIMPLE_DOT, 'goal = "Make CI green"\n[vars]\nrepo = "api"\n'),  # document example
    "gate": (GATE_DOT, 'description = "A human gate"\n'),
    "fan": (FAN_DOT, ""),
    "broken": (BROKEN_DOT, ""),
}
STAGE_IDS = ["start", "work", "approve", "ship", "exit", "work-visit_2", "fan", "a"]
QUESTION_IDS = ["q-1", "q-2"]
MODEL_IDS = ["claude-haiku-4-5", "haiku", "gpt-5.4", "gemini-pro", "mercury-2", "no-such-model"]


@dataclass(frozen=True)
class Seeds:
    run_ids: list[str]
    session_ids: list[str]


@dataclass
class RoundResult:
    requests: int
    operations_tested: int
    operations_total: int
    test_cases: int
    failures: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    statuses: dict[str, int]
    exit_code: int
    output: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.failures and not self.errors


@dataclass
class FuzzResult:
    rounds: list[RoundResult] = field(default_factory=list)
    server_problems: list[str] = field(default_factory=list)
    log_warnings: dict[str, int] = field(default_factory=dict)  # server log WARNING lines
    seconds: float = 0.0

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.rounds)

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [f for r in self.rounds for f in r.failures]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [e for r in self.rounds for e in r.errors]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rounds) and not self.server_problems

    def summary(self) -> str:
        statuses: dict[str, int] = {}
        for r in self.rounds:
            for key, count in r.statuses.items():
                statuses[key] = statuses.get(key, 0) + count
        tested = max((r.operations_tested for r in self.rounds), default=0)
        total = max((r.operations_total for r in self.rounds), default=0)
        lines = [
            f"API fuzz: {len(self.rounds)} round(s), {self.requests} requests "
            f"({', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))}), "
            f"{tested}/{total} operations tested, {self.seconds:.0f} s",
            f"failures: {len(self.failures)}, errors: {len(self.errors)}, "
            f"server problems: {len(self.server_problems)}",
            f"server log warnings: {sum(self.log_warnings.values())}",
        ]
        lines += [f"  {count} x {text}" for text, count in self.log_warnings.items()]
        for failure in self.failures:
            lines.append(f"  FAIL {failure.get('code')} {failure.get('title')}: {failure}")
        for error in self.errors:
            lines.append(f"  ERROR {error}")
        lines += [f"  SERVER {problem}" for problem in self.server_problems]
        return "\n".join(lines)


def write_registry(workflows_dir: Path) -> None:
    for slug, (dot, toml) in WORKFLOWS.items():
        folder = workflows_dir / slug
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "workflow.dot").write_text(dot, encoding="utf-8")
        if toml:
            (folder / "workflow.toml").write_text(toml, encoding="utf-8")


def server_config() -> str:
    return (
        f"max_concurrent_runs = {MAX_CONCURRENT_RUNS}\n"
        "[api]\n"
        'authentication_strategies = ["jwt"]\n'
        "[web.auth]\n"
        f'allowed_usernames = ["{USER}"]\n'
        # No rate limit: requests reach the handlers rather than a 429 (tests/api covers the
        # limits themselves).
        "[rate_limits]\nreads = 0\nwrites = 0\nrun_starts = 0\n"
    )


def start_fuzz_server(workdir: Path) -> tuple[ServerProcess, str]:
    data_dir = workdir / "data"
    data_dir.mkdir(mode=0o700, parents=True)  # as fabro makes it: its startup warns otherwise
    write_registry(data_dir / "workflows")
    token = token_for(data_dir)
    server = start_server(workdir, config=server_config(), data_dir=data_dir, args=["--dry-run"])
    return server, token


def _status(http: httpx.Client, run_id: str) -> dict[str, Any]:
    body: dict[str, Any] = http.get(f"/runs/{run_id}").json()
    return body


def _start(http: httpx.Client, **body: Any) -> str:
    response = http.post("/runs", json=body)
    assert response.status_code == 201, response.text
    run_id: str = response.json()["id"]
    return run_id


def _wait(http: httpx.Client, run_id: str, what: str, done: Any) -> None:
    wait_until(f"run {run_id} {what}", lambda: done(_status(http, run_id)), timeout_s=30)


def seed(http: httpx.Client) -> Seeds:
    """Runs in every state the API distinguishes, and a chat session."""
    completed = _start(http, dot_source=SIMPLE_DOT, labels={"team": "fuzz"})
    _wait(http, completed, "completed", lambda s: s["status"] == "completed")
    registry = _start(http, workflow="hello", vars={"x": "y"})
    _wait(http, registry, "completed", lambda s: s["status"] == "completed")
    fan = _start(http, dot_source=FAN_DOT)
    _wait(http, fan, "finished", lambda s: s["status"] in {"completed", "failed"})
    cancelled = _start(http, dot_source=GATE_DOT, title="to be cancelled")
    _wait(http, cancelled, "waiting", lambda s: "pending_question" in s)
    assert http.post(f"/runs/{cancelled}/cancel").status_code == 200
    # Runs waiting at their gate (one of them paused) fill every slot: the next one stays queued.
    waiting = [_start(http, workflow="gate") for _ in range(MAX_CONCURRENT_RUNS)]
    for run_id in waiting:
        _wait(http, run_id, "waiting", lambda s: "pending_question" in s)
    assert http.post(f"/runs/{waiting[-1]}/pause").json()["status"] == "paused"
    queued = _start(http, dot_source=SIMPLE_DOT)
    assert _status(http, queued)["status"] == "queued"
    response = http.post("/sessions", json={"content": "How do I add a stage?"})
    assert response.status_code == 201, response.text
    session: str = response.json()["id"]
    return Seeds([completed, registry, fan, cancelled, *waiting, queued], [session])


def coverage_slice(number: int, count: int) -> set[str]:
    """The operations of slice ``number`` of ``count``: every ``count``-th operation id in
    sorted order, so that the ``count`` slices together hold every operation once."""
    ids = sorted(route.operation_id for route in ROUTES)
    return set(ids[number % count :: count])


def schemathesis_config(
    seeds: Seeds, examples: int, workers: int, coverage: set[str] | None = None
) -> dict[str, Any]:
    """The schemathesis.toml of a round: timeouts, known ids, and per-operation settings.

    ``coverage``: the operations the coverage phase runs on (None: all of them); the other
    phases run on every operation whatever it is."""
    dictionaries = {
        "run-ids": seeds.run_ids,
        "session-ids": seeds.session_ids,
        "workflow-slugs": [*WORKFLOWS, "missing"],
        "stage-ids": STAGE_IDS,
        "question-ids": QUESTION_IDS,
        "model-ids": MODEL_IDS,
        "dot-sources": [SIMPLE_DOT, GATE_DOT, FAN_DOT, BROKEN_DOT],
    }
    operations = []
    for route in ROUTES:
        settings: dict[str, Any] = {}
        params: dict[str, Any] = {}

        def bind(key: str, dictionary: str, probability: float = KNOWN_PROBABILITY) -> None:
            params[key] = {"dictionary": dictionary, "probability": probability}  # noqa: B023

        if route.path.startswith("/runs/{id}"):
            bind("path.id", "run-ids")
        if route.path.startswith("/sessions/{id}"):
            bind("path.id", "session-ids")
        if route.path.startswith("/models/{id}"):
            bind("path.id", "model-ids")
        if "{name}" in route.path:
            bind("path.name", "workflow-slugs")
        if "{qid}" in route.path:
            bind("path.qid", "question-ids")
        if "{stageId}" in route.path:
            bind("path.stageId", "stage-ids")
        if route.operation_id == "startRun":
            bind("body.dot_source", "dot-sources", 0.3)
            bind("body.workflow", "workflow-slugs", 0.3)
        if route.operation_id in {"listRuns", "listWorkflowRuns"}:
            bind("query.workflow", "workflow-slugs", 0.3)
        if route.operation_id in {"createSession", "createCompletion"}:
            bind("body.model", "model-ids", 0.3)
        if params:
            settings["parameters"] = params
        if route.operation_id in STREAMS:
            settings["request-timeout"] = STREAM_TIMEOUT_S
        if route.operation_id in LATER:
            # api.md §5.1: LATER routes answer 501 Not implemented; any other 5xx still fails.
            # They read neither parameters nor bodies, so a few examples cover them.
            expected = ["2XX", "3XX", "4XX", "501"]
            settings["checks"] = {"not_a_server_error": {"expected-statuses": expected}}
            settings["generation"] = {"max-examples": min(examples, LATER_EXAMPLES)}
        # (Never an entry for the document itself: naming it makes schemathesis test it.)
        if coverage is not None and route.operation_id not in coverage and route.path != SCHEMA:
            settings["phases"] = {"coverage": {"enabled": False}}
        if settings:
            operations.append({"include-operation-id": route.operation_id, **settings})
    return {
        "workers": workers,
        "request-timeout": REQUEST_TIMEOUT_S,
        "max-stream-events": MAX_STREAM_EVENTS,
        "hooks": "tests.fuzz.hooks",
        "generation": {"max-examples": examples, "database": "none"},
        "dictionaries": {name: {"values": values} for name, values in dictionaries.items()},
        "operations": operations,
    }


def run_round(
    server: ServerProcess,
    token: str,
    seeds: Seeds,
    workdir: Path,
    *,
    examples: int,
    seed_value: int | None,
    workers: int = 2,
    timeout_s: float = 1800.0,
    coverage: set[str] | None = None,
) -> RoundResult:
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "schemathesis.toml"
    config_path.write_text(
        tomli_w.dumps(schemathesis_config(seeds, examples, workers, coverage)), encoding="utf-8"
    )
    report_path = workdir / "report.json"
    stats_path = workdir / "stats.json"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config_path),
        "run",
        f"{server.url}{SCHEMA}",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        ",".join(CHECKS),
        "--report",
        "json",
        "--report-json-path",
        str(report_path),
        "--no-color",
    ]
    if seed_value is not None:
        command += ["--seed", str(seed_value)]
    env = {**os.environ, "FABRO_FUZZ_STATS": str(stats_path), "PYTHONPATH": str(REPO_ROOT)}
    started = time.monotonic()
    completed = subprocess.run(
        command,
        cwd=workdir,  # schemathesis keeps its crash cache in ./.schemathesis
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    seconds = time.monotonic() - started
    output = completed.stdout + completed.stderr
    (workdir / "output.txt").write_text(output, encoding="utf-8")
    if not report_path.exists():
        raise RuntimeError(f"schemathesis wrote no report (exit {completed.returncode}):\n{output}")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    stats = json.loads(stats_path.read_text(encoding="utf-8")) if stats_path.exists() else {}
    return RoundResult(
        requests=int(stats.get("requests", 0)),
        operations_tested=report["operations"]["tested"],
        operations_total=report["operations"]["total"],
        test_cases=report["test_cases"]["generated"],
        failures=report["failures"],
        errors=report["errors"],
        statuses=stats.get("statuses", {}),
        exit_code=completed.returncode,
        output=output,
        seconds=seconds,
    )


def fuzz_api(
    workdir: Path,
    *,
    min_requests: int,
    examples: int,
    seed_value: int | None = None,
    max_rounds: int = 20,
    coverage: set[str] | None = None,
) -> FuzzResult:
    """Rounds against one server until ``min_requests`` requests are made (or a round fails).

    ``coverage``: the operations the coverage phase runs on (None: all of them)."""
    result = FuzzResult()
    started = time.monotonic()
    server, token = start_fuzz_server(workdir / "server")
    try:
        with server.client(token=token, timeout=30.0) as http:
            seeds = seed(http)
            while len(result.rounds) < max_rounds:
                number = len(result.rounds)
                round_seed = None if seed_value is None else seed_value + number
                result.rounds.append(
                    run_round(
                        server,
                        token,
                        seeds,
                        workdir / f"round{number}",
                        examples=examples,
                        seed_value=round_seed,
                        coverage=coverage,
                    )
                )
                if not result.rounds[-1].ok or result.requests >= min_requests:
                    break
            health = http.get("/health")
            if health.status_code != 200:
                result.server_problems.append(f"/health answered {health.status_code}")
    finally:
        stop_started = time.monotonic()
        status = server.stop()
        stop_s = time.monotonic() - stop_started
        result.seconds = time.monotonic() - started
    if status != 0:
        result.server_problems.append(f"fabro serve exited with status {status}")
    if stop_s > 8:
        result.server_problems.append(f"fabro serve took {stop_s:.1f} s to stop")
    for line in server.stderr.splitlines():
        if "Traceback" in line or "unhandled error" in line or " ERROR " in line:
            result.server_problems.append(f"server log: {line.strip()}")
            break
    for line in server.stderr.splitlines():
        if " WARNING " in line:
            text = line.split(" WARNING ", 1)[1].strip()
            result.log_warnings[text] = result.log_warnings.get(text, 0) + 1
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.api", description=__doc__)
    parser.add_argument("--requests", type=int, default=5000, help="minimum requests to make")
    parser.add_argument("--examples", type=int, default=50, help="max examples per operation")
    parser.add_argument("--seed", type=int, default=None, help="first round's seed")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="fabro-fuzz-"))
    result = fuzz_api(
        workdir, min_requests=args.requests, examples=args.examples, seed_value=args.seed
    )
    for number, r in enumerate(result.rounds):
        print(
            f"round {number}: {r.requests} requests, {r.test_cases} test cases, "
            f"{r.operations_tested}/{r.operations_total} operations, {r.seconds:.0f} s, "
            f"exit {r.exit_code}"
        )
        if not r.ok:
            print(r.output)
    print(result.summary())
    ok = result.ok and result.requests >= args.requests
    if result.requests < args.requests:
        print(f"FAILED: only {result.requests} of {args.requests} requests made")
    if ok and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"work directory (reports, server log): {workdir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
