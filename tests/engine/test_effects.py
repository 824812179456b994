"""The side-effect guard (fabro/engine/effects.py): every effect of a stage goes through it."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from fabro.engine import effects
from fabro.engine.effects import Effect, OutsideSideEffect, SideEffect
from fabro.engine.handlers.command import run_process
from fabro.engine.outcome import Outcome
from fabro.engine.stage import StageRun
from fabro.engine.tools import AGENT_TOOLS, ToolContext, run_tool
from fabro.llm.provider import LlmRequest, LlmResponse, Message, OnRetry, ToolCall
from fabro.workflow.model import Node
from tests.engine.harness import ByNode, Harness


class Bytes:
    def __init__(self) -> None:
        self.data = b""

    def add(self, chunk: bytes) -> None:
        self.data += chunk


class Watching:
    """A non-simulated backend that notes the effect each call is made in.

    `act` asks for two tools, then ends; `pick` (the fan-in) chooses `right`."""

    def __init__(self) -> None:
        self.seen: list[tuple[str | None, Effect | None]] = []

    @property
    def simulated(self) -> bool:
        return False

    async def complete(self, request: LlmRequest, on_retry: OnRetry | None = None) -> LlmResponse:
        self.seen.append((request.stage, effects.current()))
        calls: tuple[ToolCall, ...] = ()
        if request.stage == "act" and not any(m.role == "tool" for m in request.messages):
            calls = (
                ToolCall("c1", "shell", {"command": "echo made > made.txt"}),
                ToolCall("c2", "write_file", {"path": "note.txt", "content": "hi"}),
            )
        text = "right" if request.stage == "pick" else "Done."
        return LlmResponse(text=text, model=request.model, tool_calls=calls)


EVERY_EFFECT = """
digraph E {
  graph [default_provider="anthropic"]
  start [shape=Mdiamond]
  cmd [shape=parallelogram, script="echo hello"]
  act [prompt="Act", llm_model="claude-sonnet-4-5"]
  fork [shape=component]
  left [shape=parallelogram, script="echo left"]
  right [shape=parallelogram, script="echo right"]
  pick [shape=tripleoctagon, prompt="Pick the better branch", llm_model="claude-sonnet-4-5"]
  exit [shape=Msquare]
  start -> cmd -> act -> fork
  fork -> left
  fork -> right
  left -> pick
  right -> pick
  pick -> exit
}
"""


ONE_COMMAND = """
digraph One {
  start [shape=Mdiamond]
  cmd [shape=parallelogram, script="true"]
  exit [shape=Msquare]
  start -> cmd -> exit
}
"""


async def test_every_handler_with_effects_runs_them_inside_the_guard(harness: Harness) -> None:
    # Each primitive raises outside its guard: a completed run shows every handler used it.
    backend = Watching()
    run, result = await harness.run(EVERY_EFFECT, deps=harness.deps(llm=backend))
    assert result.status == "completed", result.error
    llm = Effect("llm", "claude-sonnet-4-5")
    assert backend.seen == [("act", llm), ("act", llm), ("pick", llm)]
    work = harness.lifecycle.run_dir(run.id) / "work"
    assert (work / "made.txt").read_text() == "made\n"
    assert (work / "note.txt").read_text() == "hi"
    context = (await harness.checkpoint(run.id))["context_values"]
    assert context["parallel.fan_in.best_id"] == "right"


async def test_the_simulated_model_is_called_inside_the_guard_too(harness: Harness) -> None:
    dot = ONE_COMMAND.replace('shape=parallelogram, script="true"', 'shape=tab, prompt="A"')
    _, result = await harness.run(dot)
    assert result.status == "completed", result.error


async def test_a_handler_that_forgets_the_guard_fails_its_stage(
    harness: Harness, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"

    async def forgetful(node: Node, stage: StageRun) -> Outcome:
        await run_process(
            ["touch", str(marker)], cwd=tmp_path, env={}, out=Bytes(), err=Bytes(), timeout_s=5
        )
        return Outcome.success("ran")

    run, result = await harness.run(ONE_COMMAND, handlers=ByNode(cmd=forgetful).handlers)
    assert result.status == "completed"  # its failure took the unconditional edge
    outcome = (await harness.checkpoint(run.id))["node_outcomes"]["cmd"]
    assert outcome["status"] == "fail"
    assert "stage.side_effect" in json.dumps(outcome), outcome
    assert not marker.exists()


# ---- each primitive, outside its guard -----------------------------------------------------


async def test_a_program_outside_a_command_or_tool_guard_never_starts(tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    async def start() -> int | None:
        argv = ["touch", str(marker)]
        return await run_process(argv, cwd=tmp_path, env={}, out=Bytes(), err=Bytes(), timeout_s=5)

    with pytest.raises(OutsideSideEffect, match="a program started inside no side effect"):
        await start()
    async with SideEffect("llm", "m"):
        with pytest.raises(OutsideSideEffect, match="inside a 'llm' side effect"):
            await start()
    assert not marker.exists()
    for kind in ("command", "tool"):
        async with SideEffect(kind, "touch"):
            assert await start() == 0
    assert marker.exists()


async def test_a_tool_call_outside_a_tool_guard_is_refused(tmp_path: Path) -> None:
    ctx = ToolContext(tmp_path, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, "R", "n")
    args = {"path": "note.txt", "content": "hi"}
    with pytest.raises(OutsideSideEffect, match="a tool call"):
        await run_tool(AGENT_TOOLS, "write_file", ctx, args)
    async with SideEffect("command", "bash"):
        with pytest.raises(OutsideSideEffect):
            await run_tool(AGENT_TOOLS, "write_file", ctx, args)
    assert not (tmp_path / "note.txt").exists()
    async with SideEffect("tool", "write_file"):
        assert not (await run_tool(AGENT_TOOLS, "write_file", ctx, args)).is_error
    assert (tmp_path / "note.txt").read_text() == "hi"


async def test_a_model_call_outside_an_llm_guard_is_refused(harness: Harness) -> None:
    backend = Watching()
    llm = harness.deps(llm=backend).llm  # what handlers see: the backend, guarded
    request = LlmRequest("anthropic", "claude-sonnet-4-5", [Message("user", "hi")], stage="x")
    with pytest.raises(OutsideSideEffect, match="a model request"):
        await llm.complete(request)
    async with SideEffect("tool", "shell"):
        with pytest.raises(OutsideSideEffect):
            await llm.complete(request)
    assert backend.seen == []
    async with SideEffect("llm", "claude-sonnet-4-5"):
        assert (await llm.complete(request)).text == "Done."
    assert effects.current() is None  # the guard is left behind with its block


# ---- waiting for the queued writes -----------------------------------------------------------


def stored_starts(db_path: Path, node_id: str) -> int:
    """StageStarted events of ``node_id`` committed, read as after a crash (own connection)."""
    with sqlite3.connect(db_path) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM run_events WHERE variant = 'StageStarted' AND payload LIKE ?",
            (f'%"{node_id}"%',),
        ).fetchone()
    conn.close()
    return int(count)


async def test_entering_the_guard_waits_for_the_queued_writes(harness: Harness) -> None:
    seen: list[int] = []

    async def probe(node: Node, stage: StageRun) -> Outcome:
        # StageStarted is streamed: queued, not committed, when the handler starts.
        async with stage.side_effect("command", "probe"):
            seen.append(stored_starts(harness.db.path, node.id))
        return Outcome.success("probed")

    _, result = await harness.run(ONE_COMMAND, handlers=ByNode(cmd=probe).handlers)
    assert result.status == "completed", result.error
    assert seen == [1]


async def test_entering_the_guard_with_nothing_queued_does_not_wait(harness: Harness) -> None:
    suspended: list[bool] = []

    async def probe(node: Node, stage: StageRun) -> Outcome:
        await stage.recorder.settle()
        guard = stage.side_effect("command", "probe")
        entering = guard.__aenter__()
        try:
            entering.send(None)
            suspended.append(True)  # it yielded to the event loop
            entering.close()
        except StopIteration:  # done in one step: no turn of the loop
            suspended.append(False)
            assert effects.current() == Effect("command", "probe")
            await guard.__aexit__(None, None, None)
        return Outcome.success("probed")

    _, result = await harness.run(ONE_COMMAND, handlers=ByNode(cmd=probe).handlers)
    assert result.status == "completed", result.error
    assert suspended == [False]
