"""The SDK as a user writes it, checked by mypy --strict in tests/client/test_typing.py: the
results are the server's body types, awaited on the async client, iterated on lists."""

from __future__ import annotations

import asyncio

from fabro.api.bodies.questions import ApiQuestion
from fabro.api.bodies.runs import RunListItem, RunStatusResponse, StartRunResponse
from fabro.api.bodies.stages import RetroDetail
from fabro.client import AsyncFabroClient, FabroClient
from fabro.client.errors import ConflictError


def release(dot: str) -> str:
    with FabroClient() as fabro:
        started: StartRunResponse = fabro.start_run(dot, labels={"team": "web"})
        run: RunStatusResponse = fabro.get_run(started.id)
        waiting: list[ApiQuestion] = list(fabro.list_questions(run.id))
        for question in waiting:
            try:
                fabro.answer_question(run.id, question.id, option=question.options[0].key)
            except ConflictError as refused:
                print(refused.status, refused.detail)
        newest: RunListItem = next(iter(fabro.list_runs(status=["running"])))
        svg: bytes = fabro.get_graph(run.id)
        kinds: list[str] = [str(event["type"]) for event in fabro.stream_completion("hi")]
        print(kinds)
        return newest.id + svg.decode()


async def follow(run_id: str) -> str:
    async with AsyncFabroClient(timeout=10) as fabro:
        run: RunStatusResponse = await fabro.get_run(run_id)
        ids: list[str] = [item.id async for item in fabro.list_runs()]
        return run.status + ",".join(ids)


async def review(run_id: str) -> str:
    async with AsyncFabroClient() as fabro:
        retro: RetroDetail | None = await fabro.get_retro(run_id)
        log: bytes = await fabro.get_artifact(run_id, "work", "response.md", tail=20)
        names: list[str] = [turn.kind async for turn in fabro.list_turns(run_id, "work")]
        session = await fabro.create_session("Why did it fail?", model="sonnet")
        sent: bool = (await fabro.send_message(session.id, "And then?")).accepted
        answer = await fabro.create_completion("Summarize: " + log.decode(), max_tokens=200)
        return f"{retro and retro.goal}{names}{sent}{answer.stop_reason}"


if __name__ == "__main__":
    asyncio.run(follow(release("digraph G { start [shape=Mdiamond] }")))
