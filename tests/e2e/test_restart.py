"""Crash and restart with runs in flight (engine.md §5) through real `fabro serve` processes.

Each command stage appends its node id to a witness file at its very end, so the file shows
which stages ran and how often: after recovery, completed stages never run again and only the
stage interrupted by the crash may run twice (at-least-once).
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import StartServer
from tests.e2e.runs_support import (
    Event,
    assert_contiguous,
    iter_events,
    jwt_server,
    read_events,
    start_run,
    wait_for_status,
    wait_until,
)
from tests.e2e.serverproc import ServerProcess

CHAIN_NODES = [f"n{i}" for i in range(1, 11)]
STAGE_SLEEP_S = 0.2


def chain_dot(witness: Path) -> str:
    stages = "\n".join(
        f'  {node} [shape=parallelogram, script="sleep {STAGE_SLEEP_S}; echo {node} >> {witness}"]'
        for node in CHAIN_NODES
    )
    chain = " -> ".join(["start", *CHAIN_NODES, "exit"])
    return (
        "digraph Chain {\n  start [shape=Mdiamond]\n  exit [shape=Msquare]\n"
        f"{stages}\n  {chain}\n}}"
    )


def gated_dot(witness: Path) -> str:
    return f"""digraph Gated {{
  start [shape=Mdiamond]
  prep [shape=parallelogram, script="echo prep >> {witness}"]
  approve [shape=hexagon, label="Ship it?"]
  ship [shape=parallelogram, script="echo ship >> {witness}"]
  exit [shape=Msquare]
  start -> prep -> approve
  approve -> ship [label="[Y] Yes"]
  approve -> exit [label="[N] No"]
  ship -> exit
}}"""


def witnessed(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split() if path.exists() else []


def assert_at_most_the_interrupted_stage_repeated(path: Path) -> None:
    lines = witnessed(path)
    counts = Counter(lines)
    assert list(dict.fromkeys(lines)) == CHAIN_NODES, lines  # every stage, in order
    repeated = [node for node, count in counts.items() if count > 1]
    assert len(repeated) <= 1 and all(counts[node] == 2 for node in repeated), lines


def recoveries(events: list[Event]) -> list[Event]:
    return [e for e in events if e.variant == "RunResumed" and e.data["reason"] == "recovery"]


def wait_running(http: httpx.Client, run_ids: list[str]) -> None:
    """Until every run executes one of its chain stages (so all are mid-flight)."""

    def probe() -> bool:
        bodies = [http.get(f"/runs/{run_id}").json() for run_id in run_ids]
        return all(
            b["status"] == "running" and b.get("current_node") in CHAIN_NODES for b in bodies
        )

    wait_until("every chain run to be executing", probe)


def follow_until_stage(events: Iterator[Event], node: str, seen: list[Event]) -> None:
    """Read events into ``seen`` until ``node`` has completed; the stream stays open."""
    for event in events:
        seen.append(event)
        if event.variant == "StageCompleted" and event.data["node_id"] == node:
            return
    raise AssertionError(f"stream ended before {node} completed: {seen[-3:]}")


def drain_after_crash(events: Iterator[Event], seen: list[Event]) -> None:
    """Whatever the stopped server still delivered, up to the end of the connection."""
    try:
        for event in events:
            seen.append(event)
    except httpx.TransportError:
        pass


def check_reconnect(http: httpx.Client, run_id: str, before: list[Event]) -> list[Event]:
    """Reconnect with Last-Event-ID: each later event once; the union is exactly 1..N."""
    assert_contiguous(before)
    last = before[-1].seq
    after = read_events(http, run_id, last_event_id=last)
    assert after and after[0].seq == last + 1
    union = before + after
    assert_contiguous(union)
    assert union[-1].variant == "WorkflowRunCompleted"
    return union


def assert_clean(server: ServerProcess) -> None:
    assert "Traceback" not in server.stderr, server.stderr


def test_sigkill_mid_run_then_restart_recovers_every_run(
    fabro_server: StartServer, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    gate_witness = tmp_path / "gate.txt"
    witnesses = [tmp_path / f"chain{i}.txt" for i in range(3)]
    first, token = jwt_server(fabro_server, tmp_path / "first", data)
    before: list[Event] = []
    with first.client(token=token) as http:
        gate = start_run(http, gated_dot(gate_witness))
        wait_until("the gate question", lambda: http.get(f"/runs/{gate}/questions").json()["data"])
        chains = [start_run(http, chain_dot(w)) for w in witnesses]
        wait_running(http, chains)
        with http.stream("GET", f"/runs/{chains[0]}/events", timeout=30) as stream:
            events = iter_events(stream)
            follow_until_stage(events, "n2", before)
            first.process.kill()  # SIGKILL: no shutdown code runs at all
            first.process.wait(10)
            drain_after_crash(events, before)
    assert not any(e.variant == "WorkflowRunCompleted" for e in before)

    second, token = jwt_server(fabro_server, tmp_path / "second", data)
    with second.client(token=token) as http:
        # The question survived with its id and is answerable while the run recovers.
        pending = http.get(f"/runs/{gate}/questions").json()["data"]
        assert [q["id"] for q in pending] == ["q-1"]
        answer = http.post(f"/runs/{gate}/questions/q-1/answer", json={"selected_option_key": "Y"})
        assert answer.status_code == 204, answer.text

        union = check_reconnect(http, chains[0], before)
        assert len(recoveries(union)) == 1
        for run_id in [gate, *chains]:
            assert wait_for_status(http, run_id, {"completed", "failed"})["status"] == "completed"
            run_events = read_events(http, run_id)
            assert_contiguous(run_events)
            assert len(recoveries(run_events)) == 1, run_id
        assert [e.raw for e in read_events(http, chains[0])] == [e.raw for e in union]
    for witness in witnesses:
        assert_at_most_the_interrupted_stage_repeated(witness)
    assert witnessed(gate_witness) == ["prep", "ship"]
    assert_clean(second)


@pytest.mark.parametrize("stream_open", [False, True], ids=["idle", "sse"])
def test_sigterm_mid_run_then_restart_resumes_and_completes(
    fabro_server: StartServer, tmp_path: Path, stream_open: bool
) -> None:
    data = tmp_path / "data"
    witnesses = [tmp_path / f"chain{i}.txt" for i in range(2)]
    first, token = jwt_server(fabro_server, tmp_path / "first", data)
    before: list[Event] = []
    with first.client(token=token) as http:
        chains = [start_run(http, chain_dot(w)) for w in witnesses]
        wait_running(http, chains)
        with contextlib.ExitStack() as stack:
            if stream_open:
                stream = stack.enter_context(
                    http.stream("GET", f"/runs/{chains[0]}/events", timeout=30)
                )
                events = iter_events(stream)
                follow_until_stage(events, "n2", before)
            else:
                wait_until("n2 to finish", lambda: len(witnessed(witnesses[0])) >= 2)
            stopping = time.monotonic()
            assert first.stop() == 0  # graceful: SSE streams closed, engine tasks cancelled
            assert time.monotonic() - stopping < 4
            if stream_open:
                drain_after_crash(events, before)
    for witness in witnesses:  # stopped mid-run: no run got to its end
        assert len(witnessed(witness)) < len(CHAIN_NODES), witnessed(witness)
    assert_clean(first)

    second, token = jwt_server(fabro_server, tmp_path / "second", data)
    with second.client(token=token) as http:
        if stream_open:
            union = check_reconnect(http, chains[0], before)
            assert len(recoveries(union)) == 1
        for run_id in chains:
            assert wait_for_status(http, run_id, {"completed", "failed"})["status"] == "completed"
            events_after = read_events(http, run_id)
            assert_contiguous(events_after)
            assert len(recoveries(events_after)) == 1
    for witness in witnesses:
        assert_at_most_the_interrupted_stage_repeated(witness)
    assert_clean(second)
