"""A real server's log: one INFO line per run transition, and the access log when turned on."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.conftest import StartServer
from tests.e2e.runs_support import (
    server_toml,
    start_run,
    token_for,
    wait_for_status,
    wait_until,
)

GATED = """digraph Gated {
  start [shape=Mdiamond]
  approve [shape=hexagon, label="Ship it?"]
  exit [shape=Msquare]
  start -> approve
  approve -> exit [label="[Y] Yes"]
}"""
FAILING = """digraph Failing {
  start [shape=Mdiamond]
  boom [shape=parallelogram, script="echo broken >&2; exit 3", max_retries=0, goal_gate=true]
  exit [shape=Msquare]
  start -> boom -> exit
}"""
SLOW = """digraph Slow {
  start [shape=Mdiamond]
  wait [shape=parallelogram, script="sleep 30"]
  exit [shape=Msquare]
  start -> wait -> exit
}"""
STAMP = r"^\S+ \S+ INFO "  # configure_logging: date, time, level, then the logger


def test_run_transitions_and_requests_are_logged(fabro_server: StartServer, tmp_path: Path) -> None:
    token = token_for(tmp_path / "data")
    server = fabro_server(
        config=server_toml(), data_dir=tmp_path / "data", env={"FABRO_ACCESS_LOG": "true"}
    )
    with server.client(token=token) as http:
        gated = start_run(http, GATED)
        questions = wait_until(
            "the gate's question", lambda: http.get(f"/runs/{gated}/questions").json()["data"]
        )
        assert http.post(f"/runs/{gated}/pause").status_code == 200
        assert http.post(f"/runs/{gated}/unpause").status_code == 200
        answer = {"selected_option_key": "Y"}
        path = f"/runs/{gated}/questions/{questions[0]['id']}/answer?note=private"
        assert http.post(path, json=answer).status_code == 204
        wait_for_status(http, gated, {"completed"})
        failing = start_run(http, FAILING)
        wait_for_status(http, failing, {"failed"})
        slow = start_run(http, SLOW)
        wait_for_status(http, slow, {"running"})
        assert http.post(f"/runs/{slow}/cancel").status_code == 200

    expected = [
        rf"fabro\.runs: run {gated} queued \(position \d+\)$",
        rf"fabro\.runs: run {gated} started \(workflow Gated\)$",
        rf"fabro\.runs: run {gated} waiting for a person at stage approve$",
        rf"fabro\.runs: run {gated} paused$",
        rf"fabro\.runs: run {gated} resumed \(unpause\)$",
        rf"fabro\.runs: run {gated} resumed: a person answered$",
        rf"fabro\.runs: run {gated} finished: completed in \d+\.\d s$",
        rf"fabro\.runs: run {failing} finished: failed in \d+\.\d s \(.+\)$",
        rf"fabro\.runs: run {slow} finished: cancelled$",
        r"fabro\.access: POST /runs 201 \d+\.\dms alice$",
        rf"fabro\.access: POST /runs/{gated}/questions/q-1/answer 204 \d+\.\dms alice$",
    ]

    def missing() -> list[str]:
        text = server.stderr
        return [line for line in expected if not re.search(STAMP + line, text, re.MULTILINE)]

    try:
        wait_until("every line in the server log", lambda: not missing(), timeout_s=20)
    except AssertionError:
        raise AssertionError(f"missing {missing()} in:\n{server.stderr}") from None
    text = server.stderr
    assert token not in text and "private" not in text
    transitions = re.findall(rf"fabro\.runs: run {gated} (.*)$", text, re.MULTILINE)
    assert len(transitions) == 7, transitions  # each once
