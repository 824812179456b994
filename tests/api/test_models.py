"""GET /models and POST /models/{id}/test (api.md §9)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from quart.typing import TestClientProtocol as Client

from fabro.api import models as models_api
from fabro.config import Settings
from tests.llm import fake_providers as fp
from tests.llm.fake_providers import ANTHROPIC_PATH, FakeProviders, live_app, provider_env, running

HAIKU = {
    "id": "claude-haiku-4-5",
    "provider": "anthropic",
    "family": "claude-4",
    "display_name": "Claude Haiku 4.5",
    "limits": {"context_window": 200000, "max_output": 8192},
    "training": "2025-08-01",
    "features": {"tools": True, "vision": True, "reasoning": False},
    "costs": {
        "input_cost_per_mtok": 0.8,
        "output_cost_per_mtok": 4.0,
        "cache_input_cost_per_mtok": 0.08,
    },
    "estimated_output_tps": 100,
    "aliases": ["haiku", "claude-haiku"],
    "default": False,
}


async def test_models_are_listed_in_catalog_order(
    client: Client, auth_headers: dict[str, str]
) -> None:
    body = await (await client.get("/models", headers=auth_headers)).get_json()
    ids = [model["id"] for model in body["data"]]
    assert ids[:4] == [
        "claude-opus-4-6",
        "claude-sonnet-4-5",
        "claude-sonnet-4-6",
        "claude-haiku-4-5",
    ]
    assert ids[-1] == "mercury-2" and len(ids) == 19
    assert body["meta"] == {"has_more": False}
    assert body["data"][3] == HAIKU
    spark = next(model for model in body["data"] if model["id"] == "gpt-5.3-codex-spark")
    assert spark["costs"] == {
        "input_cost_per_mtok": None,
        "output_cost_per_mtok": None,
        "cache_input_cost_per_mtok": None,
    }


async def test_models_are_paginated(client: Client, auth_headers: dict[str, str]) -> None:
    page = await (
        await client.get("/models?page[limit]=5&page[offset]=5", headers=auth_headers)
    ).get_json()
    assert page["data"][0]["id"] == "gpt-5-mini"
    assert len(page["data"]) == 5 and page["meta"] == {"has_more": True}
    bad = await client.get("/models?page[limit]=x", headers=auth_headers)
    assert bad.status_code == 400


async def test_unknown_model_is_404(client: Client, auth_headers: dict[str, str]) -> None:
    response = await client.post("/models/nope/test", headers=auth_headers)
    assert response.status_code == 404
    assert (await response.get_json())["errors"][0]["detail"] == "Model not found: nope"


async def test_simulated_backend_says_ok(client: Client, auth_headers: dict[str, str]) -> None:
    response = await client.post("/models/opus/test", headers=auth_headers)
    assert await response.get_json() == {"model_id": "claude-opus-4-6", "status": "ok"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeProviders]:
    async with running() as server:
        yield server


async def test_model_test_against_providers(
    settings: Settings, fake: FakeProviders, auth_headers: dict[str, str]
) -> None:
    env = provider_env(fake)
    del env["OPENAI_API_KEY"], env["OPENAI_BASE_URL"]
    fake.anthropic(fp.anthropic("OK"), fp.error(401, "invalid x-api-key"))
    async with live_app(settings, env) as app:
        client = app.test_client()

        async def check(model: str) -> object:
            return await (
                await client.post(f"/models/{model}/test", headers=auth_headers)
            ).get_json()

        assert await check("haiku") == {"model_id": "claude-haiku-4-5", "status": "ok"}
        assert await check("claude-haiku-4-5") == {
            "model_id": "claude-haiku-4-5",
            "status": "error",
            "error_message": "LLM error: anthropic returned HTTP 401: invalid x-api-key",
        }
        assert await check("gpt54") == {
            "model_id": "gpt-5.4",
            "status": "error",
            "error_message": (
                "Provider 'openai' is not configured (set OPENAI_API_KEY or OPENAI_BASE_URL)"
            ),
        }
        assert await check("kimi") == {
            "model_id": "kimi-k2.5",
            "status": "error",
            "error_message": "Provider 'kimi' is not supported by this fabro version",
        }
    sent = fake.bodies(ANTHROPIC_PATH)[0]
    assert sent["max_tokens"] == 16
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Say OK"}]}]


async def test_model_test_times_out(
    settings: Settings,
    fake: FakeProviders,
    auth_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(models_api, "TEST_TIMEOUT_S", 0.2)
    slow = fp.anthropic("OK")
    slow.pause_s = 0.5
    fake.anthropic(slow)
    async with live_app(settings, provider_env(fake)) as app:
        response = await app.test_client().post("/models/haiku/test", headers=auth_headers)
        assert await response.get_json() == {
            "model_id": "claude-haiku-4-5",
            "status": "error",
            "error_message": "timeout (0.2s)",
        }
