"""Every method of the SDK called at least once on AsyncFabroClient against a real `fabro
serve` (the sync client's own tests call them on FabroClient): a user's async script over
the whole API, with a recorder that checks no method was left out."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fabro.api.bodies.schedules import UpdateScheduleRequest
from fabro.api.bodies.webhooks import UpdateWebhookRequest
from fabro.client import AsyncFabroClient, FabroClient
from fabro.client.errors import ConflictError
from tests.api.receipts_helpers import Seed, seed
from tests.client.conftest import AGENT, GATE, SLOW
from tests.client.sdk_methods import method_docs
from tests.client.sides import listed
from tests.e2e.serverproc import ServerProcess

DEADLINE_S = 20.0


class Recording:
    """The client, noting the name of each method used."""

    def __init__(self, client: AsyncFabroClient) -> None:
        self.client = client
        self.called: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        self.called.add(name)
        return getattr(self.client, name)


async def question_of(fabro: Any, run_id: str) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while not (questions := await listed(fabro.list_questions(run_id))):
        assert time.monotonic() < deadline, "the gate never asked"
        await asyncio.sleep(0.05)
    return questions[0]


async def runs(fabro: Any) -> None:
    assert (await fabro.health()).status == "ok"
    assert (await fabro.get_root()).urls["health_url"] == "/health"
    assert (await fabro.get_user()).login == "alice"
    assert await fabro.get_settings() is not None
    assert await fabro.get_usage(group_by=["model"]) is not None
    assert "paths" in await fabro.get_openapi()
    gate = await fabro.start_run(GATE, labels={"team": "async"})
    await fabro.answer_question(gate.id, (await question_of(fabro, gate.id)).id, option="Y")
    assert (await fabro.wait_for_run(gate.id, timeout=DEADLINE_S)).status == "completed"
    events = await listed(fabro.stream_run_events(gate.id))
    every = await listed(fabro.stream_events(run=gate.id), lambda e: e.event.seq == len(events))
    assert [e.event.seq for e in every] == [e.seq for e in events]
    assert (await fabro.get_run(gate.id)).labels == {"team": "async"}
    assert gate.id in [run.id for run in await listed(fabro.list_runs())]
    assert len((await fabro.get_runs_page(limit=1)).data) == 1
    assert [stage.id for stage in await listed(fabro.list_stages(gate.id))][-1] == "exit"
    assert await fabro.get_checkpoint(gate.id) is not None
    assert isinstance(await fabro.get_context(gate.id), dict)
    assert await fabro.get_run_usage(gate.id) is not None
    assert await fabro.get_configuration(gate.id) is not None
    assert (await fabro.get_graph(gate.id)).lstrip().startswith((b"<?xml", b"<svg"))
    slow = await fabro.start_run(SLOW)
    await fabro.steer_run(slow.id, "keep it short")
    await fabro.pause_run(slow.id)
    await fabro.unpause_run(slow.id)
    assert (await fabro.cancel_run(slow.id)).status == "cancelled"
    assert isinstance((await fabro.cancel_runs([slow.id]))[slow.id], ConflictError)


async def internals(fabro: Any, agent_id: str, receipt_id: str) -> None:
    assert (await fabro.wait_for_run(agent_id, timeout=DEADLINE_S)).status == "completed"
    assert await listed(fabro.list_turns(agent_id, "work"))
    [name, *_] = [item.name for item in await listed(fabro.list_artifacts(agent_id, "work"))]
    whole = await fabro.get_artifact(agent_id, "work", name)
    assert (await fabro.read_artifact(agent_id, "work", name, start=1)).data == whole[1:]
    assert (await fabro.get_retro(agent_id)) is not None
    assert (await fabro.get_receipt(receipt_id)).id == receipt_id
    assert receipt_id in [r.id for r in await listed(fabro.list_receipts(run=agent_id))]
    assert receipt_id in [r.id for r in await listed(fabro.list_run_receipts(agent_id))]
    assert (await fabro.verify_receipts()).ok
    assert await listed(fabro.list_audit_logs(result="ok"))
    assert (await fabro.verify_audit_logs()).ok


async def control(fabro: Any) -> None:
    assert "gate" in [w.slug for w in await listed(fabro.list_workflows())]
    assert (await fabro.get_workflow("gate")).slug == "gate"
    made = await fabro.create_schedule("gate", "@daily")
    assert made.id in [s.id for s in await listed(fabro.list_schedules("gate"))]
    assert (await fabro.get_schedule("gate", made.id)).cron == "@daily"
    changes = UpdateScheduleRequest(title="Daily")
    assert (await fabro.update_schedule("gate", made.id, changes)).title == "Daily"
    await fabro.pause_schedule("gate", made.id)
    await fabro.unpause_schedule("gate", made.id)
    fire = await fabro.trigger_schedule("gate", made.id)
    assert [f.run_id for f in await listed(fabro.list_schedule_fires("gate", made.id))] == [
        fire.run_id
    ]
    assert fire.run_id in [r.id for r in await listed(fabro.list_workflow_runs("gate"))]
    await fabro.cancel_run(fire.run_id)
    await fabro.delete_schedule("gate", made.id)
    hook = await fabro.create_webhook("http://127.0.0.1:9/none", ["run.completed"])
    assert hook.id in [w.id for w in await listed(fabro.list_webhooks())]
    assert (await fabro.get_webhook(hook.id)).url == "http://127.0.0.1:9/none"
    await fabro.update_webhook(hook.id, UpdateWebhookRequest(event_types=["run.failed"]))
    ping = await fabro.test_webhook(hook.id)
    assert ping.id in [d.id for d in await listed(fabro.list_webhook_deliveries(hook.id))]
    assert (await fabro.redeliver_webhook_delivery(hook.id, ping.id)).id == ping.id
    await fabro.delete_webhook(hook.id)
    await fabro.set_secret("ASYNC_TABLE", "a-long-enough-value")
    assert "ASYNC_TABLE" in [s.name for s in await listed(fabro.list_secrets())]
    await fabro.rotate_secrets()
    await fabro.delete_secret("ASYNC_TABLE")


async def models(fabro: Any) -> None:
    default = next(m for m in await listed(fabro.list_models()) if m.default)
    assert (await fabro.test_model(default.id)).status == "ok"
    assert (await fabro.create_completion("Say hi")).message.role == "assistant"
    assert (await listed(fabro.stream_completion("Say hi")))[-1]["type"] == "finish"
    session = await fabro.create_session("How do I add a stage?")
    seen = await listed(fabro.stream_session_events(session.id), lambda e: e.event == "done")
    assert (await fabro.send_message(session.id, "And a gate?")).accepted
    assert (await fabro.get_session(session.id)).id == session.id
    assert session.id in [s.id for s in await listed(fabro.list_sessions())]
    assert seen[-1].event == "done"


def test_every_method_on_the_async_client(
    server: ServerProcess, token: str, fabro: FabroClient
) -> None:
    agent_id = fabro.start_run(AGENT).id
    [receipt_id] = seed(
        server.workdir / "data" / "fabro.db",
        [Seed(agent_id, "command", "ALLOW", "2026-03-05T10:00:00.000Z", "applied")],
    )

    async def use() -> set[str]:
        async with AsyncFabroClient(server.url, token=token, env={}) as client:
            recording = Recording(client)
            await runs(recording)
            await internals(recording, agent_id, receipt_id)
            await control(recording)
            await models(recording)
            return recording.called

    assert set(method_docs()) - asyncio.run(use()) == set()  # none left out
