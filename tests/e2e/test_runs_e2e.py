"""A run through real Hypercorn: submit, follow over SSE, answer, inspect (api.md §6).

One server for the module; one gated, fanned-out run drives the flow test, and the stage,
usage, retro and graph views are checked on that completed run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.runs_support import (
    Event,
    assert_contiguous,
    iter_events,
    jwt_server,
)
from tests.e2e.serverproc import ServerProcess

WORKFLOW = """digraph E2E {
  graph [goal="Ship the e2e feature"]
  start [shape=Mdiamond, label="Start"]
  build [shape=parallelogram, label="Build", script="echo built"]
  approve [shape=hexagon, label="Approve Build"]
  rejected [shape=parallelogram, label="Rejected", script="echo rejected"]
  fan [shape=component, label="Fan out"]
  lint [shape=parallelogram, label="Lint", script="echo lint ok"]
  review [shape=box, label="Review", prompt="Review the build"]
  docs [shape=box, label="Docs", prompt="Write the docs"]
  join [shape=tripleoctagon, label="Join"]
  exit [shape=Msquare, label="Exit"]
  start -> build -> approve
  approve -> fan [label="[A] Approve"]
  approve -> rejected [label="[R] Reject"]
  rejected -> exit
  fan -> lint
  fan -> review
  fan -> docs
  lint -> join
  review -> join
  docs -> join
  join -> exit
}"""

EXECUTED = ["start", "build", "approve", "fan", "lint", "review", "docs", "join", "exit"]
LABELS = {
    "start": "Start",
    "build": "Build",
    "approve": "Approve Build",
    "fan": "Fan out",
    "lint": "Lint",
    "review": "Review",
    "docs": "Docs",
    "join": "Join",
    "exit": "Exit",
}
COMPLETED_FILL = "#d1fadf"
PENDING_FILL = "#f2f4f7"


@dataclass(frozen=True)
class Served:
    server: ServerProcess
    token: str

    def client(self) -> httpx.Client:
        return self.server.client(token=self.token)


@dataclass(frozen=True)
class FinishedRun:
    id: str
    events: list[Event]
    answer_status: int


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("runs_e2e")
    server, token = jwt_server(None, base / "server", base / "data")
    try:
        yield Served(server, token)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def finished(served: Served) -> FinishedRun:
    """Submit WORKFLOW, follow its stream, answer q-1 when InterviewStarted arrives."""
    with served.client() as http:
        response = http.post("/runs", json={"dot_source": WORKFLOW})
        assert response.status_code == 201, response.text
        run_id = response.json()["id"]
        events: list[Event] = []
        answer_status = 0
        with http.stream("GET", f"/runs/{run_id}/events", timeout=60) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            for event in iter_events(stream):
                events.append(event)
                if event.variant == "InterviewStarted":
                    answer = http.post(
                        f"/runs/{run_id}/questions/q-1/answer", json={"selected_option_key": "A"}
                    )
                    answer_status = answer.status_code
        return FinishedRun(run_id, events, answer_status)


def test_stream_follows_the_run_to_its_end(served: Served, finished: FinishedRun) -> None:
    events = finished.events
    assert finished.answer_status == 204
    assert_contiguous(events)  # ids 1..N, each once, in order
    assert events[0].variant == "RunQueued"
    assert events[-1].variant == "WorkflowRunCompleted"  # the stream ended right after it
    assert sum(e.variant == "WorkflowRunCompleted" for e in events) == 1
    started = [e.data["node_id"] for e in events if e.variant == "StageStarted"]
    assert started == ["start", "build", "approve", "fan", "join", "exit"]
    interview = [e for e in events if e.variant.startswith("Interview")]
    assert [e.variant for e in interview] == ["InterviewStarted", "InterviewCompleted"]
    assert interview[0].data == {
        "question": "Approve Build",
        "stage": "approve",
        "question_type": "multiple_choice",
    }
    assert interview[1].data["answer"] == "A"
    branches = {
        e.data["branch"]: e.data["status"] for e in events if e.variant == "ParallelBranchCompleted"
    }
    assert branches == {"lint": "success", "review": "success", "docs": "success"}
    with served.client() as http:
        run = http.get(f"/runs/{finished.id}").json()
        assert run["status"] == "completed"
        assert "pending_question" not in run and "finished_at" in run
        assert http.get(f"/runs/{finished.id}/questions").json()["data"] == []
        # The stream of a finished run replays everything and closes; past the end it is 410.
        with http.stream("GET", f"/runs/{finished.id}/events") as again:
            replayed = list(iter_events(again))
        assert [e.raw for e in replayed] == [e.raw for e in events]
        gone = http.get(f"/runs/{finished.id}/events", headers={"Last-Event-ID": str(len(events))})
        assert gone.status_code == 410
        assert gone.json()["errors"][0]["detail"] == "Event stream closed."


def test_stages_lists_every_stage_completed(served: Served, finished: FinishedRun) -> None:
    with served.client() as http:
        page = http.get(f"/runs/{finished.id}/stages", params={"page[limit]": 100}).json()
    assert page["meta"] == {"has_more": False}
    assert [s["id"] for s in page["data"]] == EXECUTED  # branches included, in execution order
    for stage in page["data"]:
        assert stage["status"] == "completed", stage
        assert stage["dot_id"] == stage["id"]
        assert stage["name"] == LABELS[stage["id"]]
        assert isinstance(stage["duration_secs"], int | float) and stage["duration_secs"] >= 0


def test_usage_reflects_the_simulated_agent_stages(served: Served, finished: FinishedRun) -> None:
    with served.client() as http:
        usage = http.get(f"/runs/{finished.id}/usage").json()
    models = {
        e.data["stage"]: e.data["event"]["AssistantMessage"]["model"]
        for e in finished.events
        if e.variant == "Agent" and isinstance(e.data["event"], dict)
    }
    assert set(models) == {"review", "docs"}
    assert sorted(s["stage"]["id"] for s in usage["stages"]) == ["docs", "review"]
    for stage in usage["stages"]:
        assert stage["stage"]["name"] == LABELS[stage["stage"]["id"]]
        assert stage["model"] == {"id": models[stage["stage"]["id"]]}
        assert stage["usage"] == {"input_tokens": 0, "output_tokens": 0, "cost": 0}
    totals = usage["totals"]
    assert (totals["input_tokens"], totals["output_tokens"], totals["cost"]) == (0, 0, 0)
    runtime = sum(s["runtime_secs"] for s in usage["stages"])
    assert totals["runtime_secs"] == pytest.approx(runtime, abs=1e-6)
    assert sum(m["stages"] for m in usage["by_model"]) == 2
    assert [m["model"]["id"] for m in usage["by_model"]] == sorted(set(models.values()))


def test_retro_summarises_the_finished_run(served: Served, finished: FinishedRun) -> None:
    with served.client() as http:
        run = http.get(f"/runs/{finished.id}").json()
        retro = http.get(f"/runs/{finished.id}/retro").json()
    assert retro is not None
    assert retro["run_id"] == finished.id
    assert retro["workflow_name"] == "E2E"
    assert retro["goal"] == "Ship the e2e feature"
    assert retro["timestamp"] == run["finished_at"]
    stage_ids = [s["stage_id"] for s in retro["stages"]]
    assert stage_ids == EXECUTED[:-1]  # the terminal node is not a retro stage
    assert {s["status"] for s in retro["stages"]} == {"success"}
    assert all(s["retries"] == 0 for s in retro["stages"])
    stats = retro["stats"]
    assert stats["stages_completed"] == len(EXECUTED) - 1
    assert stats["stages_failed"] == 0
    assert stats["total_retries"] == 0
    assert stats["total_duration_ms"] >= 0
    assert "total_cost" not in stats  # zero cost is omitted


def test_graph_colours_the_executed_nodes(served: Served, finished: FinishedRun) -> None:
    with served.client() as http:
        response = http.get(f"/runs/{finished.id}/graph")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/svg+xml")
    fills = node_fills(response.text)
    assert set(fills) == {*EXECUTED, "rejected"}
    assert {node: fills[node] for node in EXECUTED} == dict.fromkeys(EXECUTED, COMPLETED_FILL)
    assert fills["rejected"] == PENDING_FILL  # never executed


_NODE = re.compile(r'<g id="node\d+" class="node">\s*<title>(.*?)</title>(.*?)</g>', re.DOTALL)
_FILL = re.compile(r'fill="(#[0-9a-fA-F]{6})"')


def node_fills(svg: str) -> dict[str, str]:
    """Node id -> the first explicit fill colour of its shape in Graphviz's SVG."""
    fills = {}
    for title, body in _NODE.findall(svg):
        found = _FILL.search(body)
        fills[title] = found.group(1).lower() if found else ""
    return fills
