"""GET /events against real `fabro serve` processes: every run's events once, in order, across
a SIGKILL and a restart (the SDK's `stream_events` reconnecting with Last-Event-ID), and the
`run`, `label` and `type` filters (the workflow filter: tests/storage/test_event_feed.py)."""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fabro.client import FabroClient
from fabro.client.streams import StreamedGlobalEvent
from fabro.events.sse import FrameParser
from tests.e2e.runs_support import jwt_server, start_run, wait_for_status, wait_until
from tests.e2e.serverproc import ServerProcess, start_server

GATED = """digraph Gated {
  start [shape=Mdiamond]
  approve [shape=hexagon, label="Ship it?"]
  exit [shape=Msquare]
  start -> approve
  approve -> exit [label="[Y] Yes"]
}"""
QUICK = "digraph Quick { start [shape=Mdiamond]; exit [shape=Msquare]; start -> exit }"
DEADLINE_S = 30.0


def stored(db: Path) -> list[tuple[int, str, int]]:
    """Every stored event's (position, run, seq), in the global order."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT rowid, run_id, seq FROM run_events ORDER BY rowid")
        return [(int(p), str(r), int(s)) for p, r, s in rows]
    finally:
        conn.close()


def frames(http: httpx.Client, query: str, until: int) -> list[dict[str, Any]]:
    """The frames of `GET /events?{query}` up to and with the one at position ``until``."""
    found: list[dict[str, Any]] = []
    with http.stream("GET", f"/events?{query}", timeout=DEADLINE_S) as response:
        assert response.status_code == 200, response.read()
        parser = FrameParser()
        for line in response.iter_lines():
            frame = parser.feed(line)
            if frame is None:
                continue
            assert frame.seq is not None
            found.append({"position": frame.seq, **json.loads(frame.data)})
            if frame.seq >= until:
                return found
    raise AssertionError(f"the stream ended before position {until}: {found}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    workdir = tmp_path_factory.mktemp("events")
    server, token = jwt_server(None, workdir, workdir / "data")
    try:
        yield server, token
    finally:
        server.stop()


def test_filters_pick_runs_labels_and_types(served: tuple[ServerProcess, str]) -> None:
    server, token = served
    with server.client(token=token) as http:
        red = start_run(http, QUICK, labels={"team": "red"})
        blue = start_run(http, QUICK, labels={"team": "blue"})
        for run_id in (red, blue):
            wait_for_status(http, run_id, {"completed"})
        rows = stored(server.workdir / "data" / "fabro.db")
        last = rows[-1][0]
        everything = frames(http, "after=0", last)
        assert [(f["position"], f["run_id"], f["seq"]) for f in everything] == rows
        assert all(len(f["event"]) == 1 for f in everything)  # {"Variant": {...}}

        of_blue = [(p, s) for p, r, s in rows if r == blue]
        by_run = frames(http, f"run={blue}", of_blue[-1][0])
        assert [(f["position"], f["seq"]) for f in by_run] == of_blue
        by_label = frames(http, "label=team:blue", of_blue[-1][0])
        assert [(f["position"], f["seq"]) for f in by_label] == of_blue

        ends = frames(http, "type=WorkflowRunCompleted&type=RunQueued", last)
        wanted = {"RunQueued", "WorkflowRunCompleted"}
        assert sorted((f["run_id"], next(iter(f["event"]))) for f in ends) == sorted(
            (run_id, variant) for run_id in (red, blue) for variant in wanted
        )
        assert [f["position"] for f in ends] == sorted(f["position"] for f in ends)

        # Resuming after a position, by header or by query.
        middle = rows[len(rows) // 2][0]
        resumed = frames(http, f"after={middle}", last)
        assert [f["position"] for f in resumed] == [p for p, _, _ in rows if p > middle]

        for bad, field in (("type=NoSuchEvent", "type"), ("label=team", "label")):
            refused = http.get(f"/events?{bad}")
            assert refused.status_code == 400
            assert f"'{field}'" in refused.json()["errors"][0]["detail"]


def test_events_resume_exactly_once_across_a_server_kill(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server, token = jwt_server(None, tmp_path / "first", data)
    port = server.port
    seen: queue.Queue[StreamedGlobalEvent | BaseException] = queue.Queue()
    try:
        with server.client(token=token) as http:
            gated = start_run(http, GATED)

        def follow() -> None:
            try:
                with FabroClient(server=server.url, token=token) as client:
                    for event in client.stream_events(after=0, timeout=DEADLINE_S):
                        seen.put(event)
                        if event.run_id == gated and event.event.variant == "WorkflowRunCompleted":
                            return
            except BaseException as error:  # handed to the test's thread
                seen.put(error)

        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        got: list[StreamedGlobalEvent] = []

        def drain() -> None:
            while not seen.empty():
                item = seen.get()
                if isinstance(item, BaseException):
                    raise item
                got.append(item)

        def until(variant: str) -> bool:
            drain()
            return any(e.run_id == gated and e.event.variant == variant for e in got)

        def caught_up() -> bool:
            drain()
            return len(got) == len(stored(data / "fabro.db"))

        wait_until("the question's event", lambda: until("InterviewStarted"))
        server.process.kill()  # SIGKILL: no goodbye to the stream
        server.process.wait(10)
        server = start_server(
            tmp_path / "second", config=server_toml_of(tmp_path / "first"), data_dir=data, port=port
        )
        with server.client(token=token) as http:
            wait_for_status(http, gated, {"running"})
            question = wait_until(
                "the question after the restart",
                lambda: http.get(f"/runs/{gated}/questions").json()["data"],
            )[0]
            # The follower has reconnected and replayed: what comes next comes live.
            wait_until("the follower to catch up after the restart", caught_up)
            answered = http.post(
                f"/runs/{gated}/questions/{question['id']}/answer",
                json={"selected_option_key": "Y"},
            )
            assert answered.status_code == 204, answered.text
        wait_until("the run's end on the stream", lambda: until("WorkflowRunCompleted"))
        follower.join(DEADLINE_S)
        rows = stored(data / "fabro.db")
        assert [(e.position, e.run_id, e.event.seq) for e in got] == rows
        assert got[-1].event.variant == "WorkflowRunCompleted"
    finally:
        server.stop()


def server_toml_of(workdir: Path) -> str:
    return (workdir / "server.toml").read_text(encoding="utf-8")
