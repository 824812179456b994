"""Finding 2: a `matches` condition with catastrophic backtracking must not freeze the server.

`^(a+)+$` against 27 `a` and a `!` takes Python's backtracking `re` seconds of CPU; evaluated
on the event loop it held every request (and SIGTERM) that long, and the resumed run froze the
restarted server again. Conditions now match with RE2 (linear time) in a worker thread.

The hostile subject comes from where an attacker would put it: a command stage prints it and
the edge condition reads `command.output`. A thread polls `/health` the whole time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from fabro.engine.handlers.parallel import join_satisfied
from fabro.workflow.prepare import prepare
from tests.e2e.conftest import StartServer, fabro_server
from tests.e2e.runs_support import jwt_server, read_events, start_run, wait_for_status, wait_until
from tests.e2e.serverproc import ServerProcess

__all__ = ["fabro_server"]  # the fixture that starts real servers and stops them at the end

HOSTILE = "a" * 27 + "!"
CONDITION = "context.command.output matches ^(a+)+$"
HEALTH_BUDGET_S = 0.1
# `sleep`: the condition is evaluated well after the probe starts, after a restart too.
FREEZE = f"""digraph Freeze {{
  start [shape=Mdiamond]
  work [shape=parallelogram, script="sleep 0.5; printf {HOSTILE}"]
  matched [shape=parallelogram, script="echo matched"]
  exit [shape=Msquare]
  start -> work
  work -> matched [condition="{CONDITION}"]
  work -> exit
  matched -> exit
}}"""


class HealthProbe:
    """Latencies of `GET /health`, polled every 20 ms from a thread of its own."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.latencies_s: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(90)

    def _poll(self) -> None:
        with self.server.client(timeout=60.0) as http:
            http.get("/health")  # the connection is open before anything is timed
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    http.get("/health")
                except httpx.TransportError:  # the server was killed under the probe
                    return
                self.latencies_s.append(time.perf_counter() - started)
                self._stop.wait(0.02)

    def assert_responsive(self) -> None:
        assert self.latencies_s, "no /health answer was timed"
        slowest = max(self.latencies_s)
        assert slowest < HEALTH_BUDGET_S, (
            f"/health took {slowest * 1000:.0f} ms (budget {HEALTH_BUDGET_S * 1000:.0f} ms) "
            f"over {len(self.latencies_s)} probes"
        )


@contextmanager
def probing(server: ServerProcess) -> Iterator[HealthProbe]:
    probe = HealthProbe(server)
    probe.start()
    try:
        yield probe
    finally:
        probe.stop()


def assert_routed_around(http: httpx.Client, run_id: str) -> None:
    """The run completed and the hostile condition was evaluated (false: the subject ends in !)."""
    assert wait_for_status(http, run_id, {"completed", "failed"})["status"] == "completed"
    selected = [
        (event.data["from_node"], event.data["to_node"])
        for event in read_events(http, run_id)
        if event.variant == "EdgeSelected"
    ]
    assert ("work", "exit") in selected and ("work", "matched") not in selected, selected


@pytest.mark.alone  # times itself: see tests/alone.py
def test_health_answers_while_a_hostile_condition_is_evaluated(
    fabro_server: StartServer, tmp_path: Path
) -> None:
    server, token = jwt_server(fabro_server, tmp_path / "server", tmp_path / "data")
    with server.client(token=token) as http, probing(server) as probe:
        run_id = start_run(http, FREEZE)
        assert_routed_around(http, run_id)
    probe.assert_responsive()


def test_a_pattern_re2_cannot_match_alike_is_refused_at_submission(
    fabro_server: StartServer, tmp_path: Path
) -> None:
    server, token = jwt_server(fabro_server, tmp_path / "server", tmp_path / "data")
    backreference = FREEZE.replace("^(a+)+$", "^(a+)\\\\1$")
    with server.client(token=token) as http:
        response = http.post("/runs", json={"dot_source": backreference})
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert "on edge work -> matched failed parse: invalid regular expression" in error["detail"]
    assert "backreferences are not supported" in error["detail"]


def test_a_long_stylesheet_on_a_large_graph_applies_in_linear_time() -> None:
    # Stylesheet selectors are workflow text too: each node tested every rule (minutes here).
    rules = "* { llm_model: m }" * 20_000
    nodes = "\n".join(f"n{i}" for i in range(2_000))
    started = time.perf_counter()
    graph = prepare(f'digraph G {{ graph [model_stylesheet="{rules}"]\n{nodes} }}').graph
    assert graph.nodes["n0"].llm_model == "m"
    assert time.perf_counter() - started < 2


def test_quorum_join_policies_parse_in_linear_time() -> None:
    # `join_policy` is workflow text too; its pattern was quadratic on a long run of digits.
    started = time.perf_counter()
    assert join_satisfied("quorum(" + "1" * 50_000, 1, 2) is None
    assert join_satisfied("quorum(0.5)", 1, 2) is True
    assert time.perf_counter() - started < 0.5


@pytest.mark.alone  # times itself: see tests/alone.py
def test_health_answers_while_a_restarted_server_resumes_the_run(
    fabro_server: StartServer, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    first, token = jwt_server(fabro_server, tmp_path / "first", data)
    with first.client(token=token) as http:
        run_id = start_run(http, FREEZE)
        wait_until(
            "the run to execute `work`",
            lambda: http.get(f"/runs/{run_id}").json().get("current_node") == "work",
        )
        first.process.kill()  # mid-stage: the restarted server runs `work` again, then routes
        first.process.wait(10)

    second, token = jwt_server(fabro_server, tmp_path / "second", data)
    with second.client(token=token) as http, probing(second) as probe:
        assert_routed_around(http, run_id)
    probe.assert_responsive()
    stopping = time.monotonic()
    assert second.stop() == 0
    assert time.monotonic() - stopping < 4
