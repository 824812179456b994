"""Governance across a crash, through real `fabro serve` processes: an APPROVE held across a
restart and then approved, and a command that is not safe to repeat killed with SIGKILL
mid-run and not run again after the restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import StartServer
from tests.e2e.runs_support import (
    server_toml,
    start_run,
    token_for,
    wait_for_status,
    wait_until,
)
from tests.e2e.serverproc import ServerProcess

POLICY = """
[[policy.rules]]
name = "hold-shipping"
decision = "approve"
kinds = ["command"]
program = "echo"
args = "shipped*"

[[policy.rules]]
name = "everything-else"
decision = "allow"
"""


def governed_server(start: StartServer, workdir: Path, data: Path) -> tuple[ServerProcess, str]:
    token = token_for(data)
    return start(workdir=workdir, config=server_toml() + POLICY, data_dir=data), token


def pending(http: httpx.Client, run_id: str) -> list[dict[str, Any]]:
    questions: list[dict[str, Any]] = http.get(f"/runs/{run_id}/questions").json()["data"]
    return questions


def crash(server: ServerProcess) -> None:
    server.process.kill()  # SIGKILL: no shutdown code runs at all
    server.process.wait(10)


def receipts(http: httpx.Client, run_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = http.get(f"/runs/{run_id}/receipts").json()["data"]
    return found


def test_an_approval_is_held_across_a_restart_then_approved(
    fabro_server: StartServer, tmp_path: Path
) -> None:
    data, witness = tmp_path / "data", tmp_path / "shipped.txt"
    dot = f"""digraph Ship {{
  start [shape=Mdiamond]
  ship [shape=parallelogram, script="echo shipped >> {witness}"]
  exit [shape=Msquare]
  start -> ship -> exit
}}"""
    first, token = governed_server(fabro_server, tmp_path / "first", data)
    with first.client(token=token) as http:
        run_id = start_run(http, dot)
        wait_until("the approval question", lambda: pending(http, run_id))
        [asked] = pending(http, run_id)
        assert "hold-shipping" in asked["text"] and f"echo shipped >> {witness}" in asked["text"]
        crash(first)
    assert not witness.exists()

    second, token = governed_server(fabro_server, tmp_path / "second", data)
    with second.client(token=token) as http:
        wait_until("the question again", lambda: pending(http, run_id))
        [held] = pending(http, run_id)
        assert held["id"] == asked["id"]  # the same question, answered after the restart
        answered = http.post(
            f"/runs/{run_id}/questions/{held['id']}/answer", json={"selected_option_key": "A"}
        )
        assert answered.status_code == 204, answered.text
        assert wait_for_status(http, run_id, {"completed", "failed"})["status"] == "completed"
        [receipt] = receipts(http, run_id)
        assert (receipt["decision"], receipt["rule"]) == ("APPROVE", "hold-shipping")
        assert (receipt["approver"], receipt["outcome"]) == ("alice", "applied")
    assert witness.read_text() == "shipped\n"


def test_a_command_not_safe_to_repeat_is_not_run_again_after_sigkill(
    fabro_server: StartServer, tmp_path: Path
) -> None:
    data, witness = tmp_path / "data", tmp_path / "charged.txt"
    dot = f"""digraph Charge {{
  start [shape=Mdiamond]
  charge [shape=parallelogram, idempotent=false, script="echo charged >> {witness}; sleep 30"]
  exit [shape=Msquare]
  start -> charge -> exit
}}"""
    first, token = governed_server(fabro_server, tmp_path / "first", data)
    with first.client(token=token) as http:
        run_id = start_run(http, dot)
        wait_until("the command to run", witness.exists)
        crash(first)

    second, token = governed_server(fabro_server, tmp_path / "second", data)
    with second.client(token=token) as http:
        wait_until("a person to be asked", lambda: pending(http, run_id))
        [asked] = pending(http, run_id)
        assert "how it ended is unknown" in asked["text"]
        assert [o["key"] for o in asked["options"]] == ["C", "F", "R"]
        answered = http.post(
            f"/runs/{run_id}/questions/{asked['id']}/answer", json={"selected_option_key": "C"}
        )
        assert answered.status_code == 204, answered.text
        assert wait_for_status(http, run_id, {"completed", "failed"})["status"] == "completed"
        began, dedup = receipts(http, run_id)
        assert (began["decision"], began["outcome"]) == ("ALLOW", None)  # began, never ended
        assert (dedup["decision"], dedup["outcome"]) == ("DEDUP", "refused")
    assert witness.read_text() == "charged\n"  # once
