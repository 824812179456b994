"""The SDK against a real `fabro serve` on 127.0.0.1: every method of FabroClient and
AsyncFabroClient called, typed results, errors by status, a start retried after a dropped
answer making one run, and mutual TLS."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from fabro.api.bodies.questions import ApiQuestion
from fabro.api.bodies.runs import RunStatusResponse, StartRunResponse
from fabro.client import AsyncFabroClient, FabroClient, calls
from fabro.client.errors import (
    BadRequestError,
    ConflictError,
    FabroConnectionError,
    NotFoundError,
    UnauthorizedError,
)
from tests.client.conftest import GATE, SLOW
from tests.client.mtls import mtls_server
from tests.e2e.serverproc import ServerProcess


def wait_until(fabro: FabroClient, run_id: str, statuses: set[str]) -> RunStatusResponse:
    for _ in range(200):
        run = fabro.get_run(run_id)
        if run.status in statuses:
            return run
        asyncio.run(asyncio.sleep(0.05))
    raise AssertionError(f"run {run_id} never reached {statuses}")


def wait_for_question(fabro: FabroClient, run_id: str) -> ApiQuestion:
    """A run reports `running` before its gate has asked; the question comes a moment later."""
    for _ in range(200):
        questions = list(fabro.list_questions(run_id))
        if questions:
            [question] = questions
            return question
        asyncio.run(asyncio.sleep(0.05))
    raise AssertionError(f"run {run_id} never asked a question")


def test_the_server_and_the_runs(fabro: FabroClient, tmp_path: Path) -> None:
    assert fabro.health().status == "ok"
    assert fabro.get_user().login == "alice"
    assert fabro.get_settings() is not None
    file = tmp_path / "gate.dot"
    file.write_text(GATE, encoding="utf-8")
    started = fabro.start_run(file=file, title="from a file", labels={"team": "sdk"})
    assert isinstance(started, StartRunResponse) and started.title == "from a file"
    run = wait_until(fabro, started.id, {"running"})
    assert run.labels == {"team": "sdk"}
    question = wait_for_question(fabro, run.id)
    assert question.text == "Ship it?" and [o.key for o in question.options] == ["Y", "N"]
    fabro.answer_question(run.id, question.id, option="Y")
    with pytest.raises(ConflictError) as refused:
        fabro.answer_question(run.id, question.id, option="N")
    assert refused.value.status == 409 and "already answered" in refused.value.detail
    assert wait_until(fabro, run.id, {"completed"}).status == "completed"
    assert [stage.id for stage in fabro.list_stages(run.id)][-1] == "exit"
    checkpoint = fabro.get_checkpoint(run.id)
    assert checkpoint is not None and "done" in checkpoint.completed_nodes
    assert isinstance(fabro.get_context(run.id), dict)
    assert fabro.get_run_usage(run.id) is not None
    assert fabro.get_configuration(run.id) is not None
    assert fabro.get_graph(run.id).lstrip().startswith((b"<?xml", b"<svg"))
    assert fabro.get_usage() is not None
    assert started.id in [item.id for item in fabro.list_runs(status=["completed"])]


PROMPT = """digraph Prompt {
  start [shape=Mdiamond]
  work [label="Work", prompt="Say hello"]
  exit [shape=Msquare]
  start -> work -> exit
}"""


def test_usage_rolled_up_by_user_and_model_over_a_range(fabro: FabroClient) -> None:
    run = fabro.start_run(PROMPT)
    assert wait_until(fabro, run.id, {"completed"}).status == "completed"
    today = datetime.now(UTC).date()
    usage = fabro.get_usage(group_by=["user", "model"], since=today, until=today)
    assert usage.groups, usage
    assert {group.user for group in usage.groups} == {"alice"}
    assert sum(group.stages for group in usage.groups) == sum(m.stages for m in usage.by_model)
    later = datetime.now(UTC) + timedelta(days=1)
    assert fabro.get_usage(group_by=["day"], since=later).groups == []
    assert fabro.get_usage().groups is msgspec.UNSET  # the original's answer without them
    with pytest.raises(BadRequestError) as refused:
        fabro.get_usage(group_by=["week"])
    assert refused.value.detail == "Query parameter 'group_by' has unknown value 'week'."


def test_controls_steer_and_the_registry(fabro: FabroClient) -> None:
    run = fabro.start_run(SLOW)
    wait_until(fabro, run.id, {"running"})
    fabro.steer_run(run.id, "keep it short", file="notes.md", line=3)
    assert fabro.pause_run(run.id).status in ("running", "paused")
    fabro.unpause_run(run.id)
    assert fabro.cancel_run(run.id).status == "cancelled"
    with pytest.raises(ConflictError):
        fabro.cancel_run(run.id)
    assert [w.slug for w in fabro.list_workflows()] == ["gate"]
    assert fabro.get_workflow("gate").slug == "gate"
    from_registry = fabro.start_run(workflow="gate")
    assert from_registry.id in [r.id for r in fabro.list_workflow_runs("gate")]
    fabro.cancel_run(from_registry.id)


def test_errors_carry_status_title_and_detail(fabro: FabroClient, server: ServerProcess) -> None:
    with pytest.raises(NotFoundError) as missing:
        fabro.get_run("nope")
    assert (missing.value.status, missing.value.title) == (404, "Not Found")
    assert missing.value.detail == "Run not found."
    with pytest.raises(NotFoundError):
        fabro.get_run("../../health")  # a path segment, never a route of its own
    with FabroClient(f"http://127.0.0.1:{server.port + 1}", token="x", env={}, retries=0) as bad:
        with pytest.raises(FabroConnectionError, match="cannot connect"):
            bad.health()


def test_list_methods_walk_every_page(fabro: FabroClient, monkeypatch: pytest.MonkeyPatch) -> None:
    made = {fabro.start_run(SLOW).id for _ in range(5)}
    monkeypatch.setattr(calls, "PAGE_SIZE", 2)
    seen = [run.id for run in fabro.list_runs()]
    assert made <= set(seen) and len(seen) == len(set(seen))
    for run_id in made:
        fabro.cancel_run(run_id)


class DropFirstAnswer(httpx.HTTPTransport):
    """Sends every request, but loses the server's first answer to a POST /runs (as when a
    connection breaks after the server committed the run)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.dropped = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method == "POST" and request.url.path == "/runs" and not self.dropped:
            self.dropped += 1
            response.read()
            raise httpx.ReadError("connection lost", request=request)
        return response


def test_a_start_retried_after_a_dropped_answer_makes_one_run(
    server: ServerProcess, token: str
) -> None:
    transport = DropFirstAnswer()
    with FabroClient(server.url, token=token, env={}, transport=transport) as fabro:
        before = {run.id for run in fabro.list_runs()}
        run = fabro.start_run(SLOW, title="retried")
        after = [r for r in fabro.list_runs() if r.id not in before]
        assert transport.dropped == 1 and [r.id for r in after] == [run.id]
        fabro.cancel_run(run.id)


def test_the_async_client_has_the_same_methods(server: ServerProcess, token: str) -> None:
    async def use() -> None:
        async with AsyncFabroClient(server.url, token=token, env={}) as fabro:
            assert (await fabro.get_user()).login == "alice"
            run = await fabro.start_run(GATE)
            questions: list[ApiQuestion] = []
            for _ in range(200):
                questions = [q async for q in fabro.list_questions(run.id)]
                if questions:
                    break
                await asyncio.sleep(0.05)
            await fabro.answer_question(run.id, questions[0].id, option="N")
            ids = [item.id async for item in fabro.list_runs()]
            assert run.id in ids
            with pytest.raises(NotFoundError):
                await fabro.get_run("nope")

    asyncio.run(use())


def test_mutual_tls_on_both_clients(tmp_path: Path) -> None:
    proc, pki = mtls_server(tmp_path)
    files = {"cert": pki.cert, "key": pki.key, "ca": pki.ca}
    try:
        with FabroClient(proc.url, env={}, **files) as fabro:
            assert fabro.get_user().login == "alice"

        async def awaited() -> str:
            async with AsyncFabroClient(proc.url, env={}, **files) as client:
                return (await client.get_user()).login

        assert asyncio.run(awaited()) == "alice"
        with FabroClient(proc.url, env={}, ca=pki.ca, retries=0) as anonymous:
            with pytest.raises((FabroConnectionError, UnauthorizedError)):
                anonymous.get_user()  # no client certificate: refused
    finally:
        proc.stop()


def test_cancel_runs_cancels_each_and_reports_each_refusal(
    fabro: FabroClient, server: ServerProcess, token: str
) -> None:
    running = [fabro.start_run(SLOW).id for _ in range(2)]
    results = fabro.cancel_runs([*running, "nope"])
    assert [results[run_id].status for run_id in running] == ["cancelled", "cancelled"]  # type: ignore[union-attr]
    assert isinstance(results["nope"], NotFoundError)

    async def awaited() -> None:
        async with AsyncFabroClient(server.url, token=token, env={}) as client:
            more = [(await client.start_run(SLOW)).id for _ in range(3)]
            done = await client.cancel_runs([*more, running[0]])
            assert [done[run_id].status for run_id in more] == ["cancelled"] * 3  # type: ignore[union-attr]
            assert isinstance(done[running[0]], ConflictError)  # already cancelled

    asyncio.run(awaited())
