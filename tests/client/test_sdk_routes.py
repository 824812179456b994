"""The SDK's remaining plain routes against a real `fabro serve` on 127.0.0.1: turns,
artifacts, retro, models, completions, sessions and the OpenAPI document, each called with its
typed result checked, on the sync client and on the async one. No provider key reaches the
server, so the simulated backend answers every model call."""

from __future__ import annotations

import asyncio
import time

import pytest

from fabro.api.bodies.completions import CompletionResponse, Model, ModelTestResult
from fabro.api.bodies.sessions import (
    CreateSessionResponse,
    SendMessageResponse,
    SessionDetail,
    SessionListItem,
)
from fabro.api.bodies.stages import RetroDetail, StageArtifact, StageTurn
from fabro.client import AsyncFabroClient, FabroClient
from fabro.client.errors import BadRequestError, NotFoundError, RangeNotSatisfiableError
from tests.client.conftest import AGENT
from tests.e2e.serverproc import ServerProcess

DEADLINE_S = 15.0


@pytest.fixture(scope="module")
def finished(server: ServerProcess, token: str) -> str:
    """The id of a completed run of AGENT (one agent stage, answered by the simulation)."""
    with FabroClient(server.url, token=token, env={}) as fabro:
        run_id = fabro.start_run(AGENT).id
        deadline = time.monotonic() + DEADLINE_S
        while fabro.get_run(run_id).status != "completed":
            assert time.monotonic() < deadline, fabro.get_run(run_id)
            time.sleep(0.05)
        return run_id


def test_turns_artifacts_and_retro(fabro: FabroClient, finished: str) -> None:
    turns = list(fabro.list_turns(finished, "work"))
    assert turns and all(isinstance(turn, StageTurn) for turn in turns)
    assert "assistant" in [turn.kind for turn in turns]
    artifacts = list(fabro.list_artifacts(finished, "work"))
    assert artifacts and all(isinstance(item, StageArtifact) for item in artifacts)
    first = artifacts[0]
    whole = fabro.get_artifact(finished, "work", first.name)
    assert isinstance(whole, bytes) and len(whole) == first.size
    last = fabro.get_artifact(finished, "work", first.name, tail=1)
    assert whole.endswith(last) and len(last) <= len(whole)
    part = fabro.read_artifact(finished, "work", first.name, start=1)
    assert (part.data, part.size, part.partial) == (whole[1:], len(whole), True)
    with pytest.raises(RangeNotSatisfiableError):
        fabro.read_artifact(finished, "work", first.name, start=len(whole))  # nothing after
    page = fabro.get_runs_page(limit=1, offset=0)
    assert [run.id for run in page.data] == [next(iter(fabro.list_runs())).id]
    retro = fabro.get_retro(finished)
    assert isinstance(retro, RetroDetail) and retro.run_id == finished
    assert "work" in [stage.stage_id for stage in retro.stages]


def test_a_nested_artifact_is_read_through_its_name(
    fabro: FabroClient, finished: str, server: ServerProcess
) -> None:
    folder = server.workdir / "data" / "runs" / finished / "nodes" / "work"
    (folder / "sub").mkdir()
    (folder / "sub" / "notes.txt").write_text("one\ntwo\n", encoding="utf-8")
    assert "sub/notes.txt" in [item.name for item in fabro.list_artifacts(finished, "work")]
    assert fabro.get_artifact(finished, "work", "sub/notes.txt", tail=1) == b"two\n"


def test_unknown_stages_artifacts_and_sessions_are_not_found(
    fabro: FabroClient, finished: str
) -> None:
    with pytest.raises(NotFoundError, match="Stage not found"):
        list(fabro.list_turns(finished, "nope"))
    with pytest.raises(NotFoundError, match="Stage not found"):
        list(fabro.list_artifacts(finished, "nope"))
    with pytest.raises(NotFoundError, match="Artifact not found"):
        fabro.get_artifact(finished, "work", "missing.txt")
    for escape in ("..", "../../../server.toml", "."):
        with pytest.raises(NotFoundError):
            fabro.get_artifact(finished, "work", escape)
    with pytest.raises(NotFoundError, match="Session not found"):
        fabro.get_session("00000000-0000-0000-0000-000000000000")
    with pytest.raises(NotFoundError, match="Run not found"):
        fabro.get_retro("..")  # a dot-dot id is a name, never the parent route
    with pytest.raises(BadRequestError, match="tail"):
        fabro.get_artifact(finished, "work", "missing.txt", tail=0)


def test_an_empty_id_is_refused_before_sending(fabro: FabroClient) -> None:
    with pytest.raises(ValueError, match="cannot be empty"):
        fabro.get_session("")


def test_models_and_completions(fabro: FabroClient) -> None:
    models = list(fabro.list_models())
    assert models and all(isinstance(model, Model) for model in models)
    default = next(model for model in models if model.default)
    tested = fabro.test_model(default.id)
    assert isinstance(tested, ModelTestResult)
    assert (tested.model_id, tested.status) == (default.id, "ok")
    with pytest.raises(NotFoundError):
        fabro.test_model("no-such-model")
    answer = fabro.create_completion("Say hello", max_tokens=50, system="Answer briefly.")
    assert isinstance(answer, CompletionResponse) and answer.message.role == "assistant"
    # The simulation answers with no content; a streamed answer would not decode at all.
    assert (answer.stop_reason, answer.message.content) == ("end_turn", [])


def test_sessions(fabro: FabroClient) -> None:
    created = fabro.create_session("How do I add a stage?")
    assert isinstance(created, CreateSessionResponse)
    sent = fabro.send_message(created.id, "And a human gate?")
    assert isinstance(sent, SendMessageResponse) and sent.accepted
    detail = fabro.get_session(created.id)
    assert isinstance(detail, SessionDetail) and detail.id == created.id
    assert [turn.kind for turn in detail.turns][:1] == ["user"]
    listed = list(fabro.list_sessions())
    assert all(isinstance(item, SessionListItem) for item in listed)
    assert created.id in [item.id for item in listed]


def test_the_openapi_document(fabro: FabroClient) -> None:
    document = fabro.get_openapi()
    assert document["openapi"].startswith("3.")
    assert "/sessions/{id}/messages" in document["paths"]


def test_the_async_client_has_the_same_routes(
    server: ServerProcess, token: str, finished: str
) -> None:
    async def use() -> None:
        async with AsyncFabroClient(server.url, token=token, env={}) as fabro:
            turns = [turn async for turn in fabro.list_turns(finished, "work")]
            assert turns and isinstance(turns[0], StageTurn)
            names = [item.name async for item in fabro.list_artifacts(finished, "work")]
            assert isinstance(await fabro.get_artifact(finished, "work", names[0]), bytes)
            retro = await fabro.get_retro(finished)
            assert retro is not None and retro.run_id == finished
            assert [model async for model in fabro.list_models()]
            answer = await fabro.create_completion("Say hello")
            assert isinstance(answer, CompletionResponse)
            session = await fabro.create_session("Hello?")
            assert (await fabro.send_message(session.id, "Still there?")).accepted
            assert (await fabro.get_session(session.id)).id == session.id
            assert session.id in [item.id async for item in fabro.list_sessions()]
            assert "paths" in await fabro.get_openapi()
            with pytest.raises(NotFoundError):
                await fabro.get_artifact(finished, "work", "missing.txt")

    asyncio.run(use())


def test_a_streamed_completion_is_read_frame_by_frame(fabro: FabroClient) -> None:
    events = list(fabro.stream_completion("Say hi", max_tokens=20))
    types = [event["type"] for event in events]
    # The simulated backend does not stream: its answer is one `finish` frame.
    assert types[-1] == "finish" and "usage" in events[-1], events

    async def awaited() -> list[str]:
        async with AsyncFabroClient(
            fabro.settings.base_url, token=fabro.settings.token, env={}
        ) as client:
            return [event["type"] async for event in client.stream_completion("Say hi")]

    assert asyncio.run(awaited()) == types
    with pytest.raises(BadRequestError):
        list(fabro.stream_completion([], max_tokens=1))  # no message: the server's 400
