"""Services: a provider key kept as a secret, changed while the server runs (fabro/llm/live.py).

In process, with the app's own services and a local server speaking the Anthropic protocol:
a run keeps the backend it started with; a completion takes the newest; of two changes in
quick succession the backend ends with the key stored last; --dry-run never changes."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Mapping

import pytest
from quart import Quart

from fabro.config import Settings
from fabro.llm.router import Router
from fabro.llm.simulated import SimulatedBackend
from fabro.services import Services
from tests.api.runs_helpers import start, wait_for, wait_for_question
from tests.llm import fake_providers as fp
from tests.llm.fake_providers import FakeProviders, live_app, running

KEY = "sk-ant-from-a-secret-0123456789abcdef"
GATE_THEN_ASK = """digraph G {
  graph [goal="Greet", default_provider="anthropic"]
  start [shape=Mdiamond]
  approve [shape=hexagon, label="Approve"]
  ask [shape=tab, prompt="Say hello"]
  exit [shape=Msquare]
  start -> approve
  approve -> ask [label="[A] Approve"]
  ask -> exit
}"""


@pytest.fixture
async def fake() -> AsyncIterator[FakeProviders]:
    async with running() as server:
        yield server


def no_key(fake: FakeProviders) -> Mapping[str, str]:
    return {"ANTHROPIC_API_KEY": "", "OPENAI_API_KEY": "", "ANTHROPIC_BASE_URL": fake.url}


@pytest.fixture
async def live(settings: Settings, fake: FakeProviders) -> AsyncIterator[Quart]:
    async with live_app(settings, no_key(fake)) as app:
        yield app


def services_of(app: Quart) -> Services:
    services: Services = app.config["FABRO_SERVICES"]
    return services


def anthropic_key(services: Services) -> str | None:
    backend = services.llm
    if isinstance(backend, SimulatedBackend):
        return None
    assert isinstance(backend, Router)
    return backend.providers["anthropic"]._headers["x-api-key"]


async def put_key(app: Quart, headers: dict[str, str], value: str) -> None:
    response = await app.test_client().put(
        "/secrets/ANTHROPIC_API_KEY", json={"value": value}, headers=headers
    )
    assert response.status_code in (200, 201), await response.get_data(as_text=True)


async def test_a_run_waiting_at_a_gate_keeps_the_backend_it_started_with(
    live: Quart, fake: FakeProviders, auth_headers: dict[str, str]
) -> None:
    client = live.test_client()
    run = await start(client, auth_headers, GATE_THEN_ASK)
    question = await wait_for_question(client, auth_headers, run["id"])
    await put_key(live, auth_headers, KEY)
    answer = {"selected_option_key": "A"}
    url = f"/runs/{run['id']}/questions/{question['id']}/answer"
    assert (await client.post(url, json=answer, headers=auth_headers)).status_code == 204
    assert (await wait_for(client, auth_headers, run["id"], {"completed", "failed"}))[
        "status"
    ] == "completed"
    context = await (await client.get(f"/runs/{run['id']}/context", headers=auth_headers)).get_data(
        as_text=True
    )
    assert "[Simulated] Response for stage: ask" in context
    assert fake.requests == []  # the key set while it waited is for later runs
    assert anthropic_key(services_of(live)) == KEY


async def test_a_completion_after_the_key_is_set_uses_it(
    live: Quart, fake: FakeProviders, auth_headers: dict[str, str]
) -> None:
    await put_key(live, auth_headers, KEY)
    fake.anthropic(fp.anthropic("Hi."))
    body = {
        "model": "claude-haiku-4-5",
        "messages": [{"role": "user", "content": [{"kind": "text", "data": "Hello"}]}],
    }
    response = await live.test_client().post("/completions", json=body, headers=auth_headers)
    assert response.status_code == 200, await response.get_data(as_text=True)
    assert [request.headers["x-api-key"] for request in fake.requests] == [KEY]


async def test_of_two_quick_changes_the_backend_ends_with_the_key_stored_last(
    live: Quart, auth_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = services_of(live)
    read_keys = services.secrets.provider_keys
    reads = 0

    async def first_read_slow(env: Mapping[str, str]) -> dict[str, str]:
        nonlocal reads
        reads += 1
        keys = await read_keys(env)
        if reads == 1:  # the first change's read comes back after the second change
            await asyncio.sleep(0.3)
        return keys

    monkeypatch.setattr(services.secrets, "provider_keys", first_read_slow)

    async def second() -> None:
        await asyncio.sleep(0.1)
        await put_key(live, auth_headers, KEY + "-second")

    await asyncio.gather(put_key(live, auth_headers, KEY + "-first"), second())
    assert (await services.secrets.values(["ANTHROPIC_API_KEY"]))["ANTHROPIC_API_KEY"] == (
        KEY + "-second"
    )
    assert anthropic_key(services) == KEY + "-second"


async def test_in_dry_run_a_provider_key_secret_changes_nothing(
    settings: Settings, fake: FakeProviders, auth_headers: dict[str, str]
) -> None:
    async with live_app(dataclasses.replace(settings, dry_run=True), no_key(fake)) as app:
        services = services_of(app)
        before = services.llm
        await put_key(app, auth_headers, KEY)
        assert services.llm is before and isinstance(before, SimulatedBackend)
