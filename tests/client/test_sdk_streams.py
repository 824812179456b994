"""Following a run's events with the SDK: across a server SIGKILL and restart on the same
port every event arrives exactly once and in order; wait_for_run returns the ended run."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from fabro.auth.keys import ensure_key_pair, mint_token
from fabro.client import AsyncFabroClient, FabroClient
from fabro.client.streams import StreamedRunEvent
from fabro.events.types import WorkflowRunCompleted
from tests.client.conftest import CONFIG
from tests.e2e.serverproc import ServerProcess, start_server

STAGES = 12
LINE = "\n".join(
    ["digraph Line {", "  start [shape=Mdiamond]", "  exit [shape=Msquare]"]
    + [f'  s{i} [shape=parallelogram, script="sleep 0.25"]' for i in range(STAGES)]
    + ["  " + " -> ".join(["start", *(f"s{i}" for i in range(STAGES)), "exit"]), "}"]
)


def serve(workdir: Path, port: int | None = None) -> ServerProcess:
    return start_server(workdir, config=CONFIG, port=port)


def test_events_arrive_once_and_in_order_across_a_sigkill_and_restart(tmp_path: Path) -> None:
    key = ensure_key_pair(tmp_path / "data" / "keys")
    token = mint_token(key, subject="alice", issuer="fabro-web", ttl_s=600)
    server = serve(tmp_path)
    port = server.port
    received: list[StreamedRunEvent] = []
    failure: list[BaseException] = []
    try:
        with FabroClient(server.url, token=token, env={}) as fabro:
            run = fabro.start_run(LINE)

            def follow() -> None:
                try:
                    with FabroClient(server.url, token=token, env={}) as reader:
                        received.extend(reader.stream_run_events(run.id, timeout=60))
                except BaseException as exc:  # reported by the test below
                    failure.append(exc)

            reader = threading.Thread(target=follow)
            reader.start()
            deadline = time.monotonic() + 20
            while sum(e.variant == "StageCompleted" for e in received) < 3:
                assert time.monotonic() < deadline, received
                time.sleep(0.02)
            server.process.kill()  # SIGKILL: no goodbye to the stream
            server.stop()
            seen_at_kill = len(received)
            server = serve(tmp_path, port=port)  # the same data, where the client expects it
            reader.join(60)
            assert not reader.is_alive() and not failure, failure
            assert fabro.get_run(run.id).status == "completed"
            every = list(fabro.stream_run_events(run.id))  # all stored, from the start
    finally:
        server.stop()
    seqs = [event.seq for event in received]
    assert seqs == list(range(1, len(seqs) + 1)), seqs  # in order, none missed or repeated
    assert [(e.seq, e.payload) for e in received] == [(e.seq, e.payload) for e in every]
    assert 0 < seen_at_kill < len(received)  # the stream really went across the restart
    assert isinstance(received[-1].event, WorkflowRunCompleted)


def test_wait_for_run_returns_the_ended_run(tmp_path: Path) -> None:
    key = ensure_key_pair(tmp_path / "data" / "keys")
    token = mint_token(key, subject="alice", issuer="fabro-web", ttl_s=600)
    server = serve(tmp_path)
    short = LINE.replace("sleep 0.25", "true")
    try:
        with FabroClient(server.url, token=token, env={}) as fabro:
            run = fabro.start_run(short)
            assert fabro.wait_for_run(run.id, timeout=30).status == "completed"
            assert fabro.wait_for_run(run.id).status == "completed"  # already over
            slow = fabro.start_run(LINE.replace("sleep 0.25", "sleep 5"))
            with pytest.raises(TimeoutError):
                fabro.wait_for_run(slow.id, timeout=0.5)
            fabro.cancel_run(slow.id)

        async def awaited() -> None:
            async with AsyncFabroClient(server.url, token=token, env={}) as fabro:
                again = await fabro.start_run(short)
                ended = await fabro.wait_for_run(again.id, timeout=30)
                assert ended.status == "completed"
                variants = [e.variant async for e in fabro.stream_run_events(again.id)]
                assert variants[-1] == "WorkflowRunCompleted"

        asyncio.run(awaited())
    finally:
        server.stop()


def test_a_sessions_events_are_followed_and_resumed(fabro: FabroClient) -> None:
    session = fabro.create_session("How do I add a stage?")
    first: list[str] = []
    for streamed in fabro.stream_session_events(session.id):
        first.append(streamed.event)
        if streamed.event == "done":
            break
    assert first[-1] == "done" and "assistant_turn" in first
    last_seen = len(first) - 1  # session events are counted from 0
    fabro.send_message(session.id, "And a gate?")
    after: list[int] = []
    for streamed in fabro.stream_session_events(session.id, after=last_seen):
        after.append(streamed.seq)
        if streamed.event == "done":
            break
    assert after[0] == last_seen + 1 and after == list(range(after[0], after[0] + len(after)))

    async def awaited() -> list[str]:
        async with AsyncFabroClient(
            fabro.settings.base_url, token=fabro.settings.token, env={}
        ) as client:
            names = []
            async for streamed in client.stream_session_events(session.id):
                names.append(streamed.event)
                if len(names) == len(first):
                    break
            return names

    assert asyncio.run(awaited()) == first
