"""Finding 11: chat sessions' turns and events go through the same redaction as run events.

A user pastes a secret into a session and the model (a local server speaking the Anthropic
protocol) echoes it back, cut in two across its streamed pieces: no copy of the value is
stored, streamed, listed or sent back to the model.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from fabro.auth.keys import ensure_key_pair
from fabro.config import Settings, load_settings
from fabro.events.sse import Frame, FrameParser
from tests.api.sessions_helpers import create, turns_when
from tests.conftest import write_config
from tests.llm import fake_providers as fp
from tests.llm.fake_providers import ANTHROPIC_PATH, FakeProviders, live_app, provider_env

# Secret by configuration only ([redaction] secret_env): no pattern would catch it.
SECRET = "plain-words-Correct-Horse-Battery-42"
TOKEN = "tok-0123456789-abcdefghij"  # a variable whose name says secret (MY_SERVICE_TOKEN)
ENV = {"DEPLOY_CREDS": SECRET, "MY_SERVICE_TOKEN": TOKEN}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    ensure_key_pair(tmp_path / "data" / "keys")
    config = write_config(tmp_path, '[redaction]\nsecret_env = ["DEPLOY_CREDS"]\n')
    return load_settings(config, env={"HOME": str(tmp_path)}).settings


@pytest.fixture
async def live(settings: Settings, fake: FakeProviders) -> AsyncIterator[Quart]:
    async with live_app(settings, {**provider_env(fake), **ENV}) as app:
        yield app


def echo(secret: str) -> str:
    """A reply whose two streamed halves cut ``secret`` in the middle."""
    text = f"Got {secret}."
    assert 4 < len(text) // 2 < 4 + len(secret)
    return text


def assert_clean(text: str) -> None:
    for value in (SECRET, TOKEN):
        assert value not in text
        assert value[: len(value) // 2 + 2] not in text  # nor the larger half of it
        assert value[len(value) // 2 - 2 :] not in text


async def test_turns_events_and_prompts_are_redacted(
    live: Quart, fake: FakeProviders, auth_headers: dict[str, str], settings: Settings
) -> None:
    fake.anthropic(fp.anthropic(echo(SECRET)), fp.anthropic(echo(TOKEN)))
    client = live.test_client()
    created = await create(
        client, auth_headers, content=f"My password is {SECRET}", model="haiku", system=TOKEN
    )
    path = f"/sessions/{created['id']}"
    await turns_when(client, auth_headers, created["id"], 2)
    sent = await client.post(
        f"{path}/messages", json={"content": f"and {TOKEN}"}, headers=auth_headers
    )
    assert sent.status_code == 202
    turns = await turns_when(client, auth_headers, created["id"], 4)
    assert [turn["content"] for turn in turns] == [
        "My password is [REDACTED]",
        "Got [REDACTED].",
        "and [REDACTED]",
        "Got [REDACTED].",
    ]

    frames = await frames_until_done(client, f"{path}/events", auth_headers, 2)
    deltas = "".join(
        json.loads(frame.data)["delta"] for frame in frames if frame.event == "content_delta"
    )
    assert deltas == "Got [REDACTED].Got [REDACTED]."
    everything = [
        json.dumps(await (await client.get(path, headers=auth_headers)).get_json()),
        json.dumps(await (await client.get("/sessions", headers=auth_headers)).get_json()),
        *(frame.data for frame in frames),
        *(json.dumps(request.body) for request in fake.requests if request.path == ANTHROPIC_PATH),
    ]
    for text in everything:
        assert_clean(text)
    for data in database_bytes(settings):
        assert SECRET.encode() not in data and TOKEN.encode() not in data


def database_bytes(settings: Settings) -> list[bytes]:
    """The raw bytes of the database file and its write-ahead log."""
    files = [Path(f"{settings.db_path}{suffix}") for suffix in ("", "-wal")]
    return [file.read_bytes() for file in files if file.exists()]


async def frames_until_done(
    client: Client, path: str, headers: dict[str, str], count: int
) -> list[Frame]:
    """The stream's frames from the start up to its ``count``-th `done` (it never ends)."""
    frames: list[Frame] = []
    parser = FrameParser()
    pending = ""
    async with client.request(path, headers=headers) as connection:
        while sum(frame.event == "done" for frame in frames) < count:
            pending += (await asyncio.wait_for(connection.receive(), 5)).decode()
            *lines, pending = pending.split("\n")
            frames += [f for line in lines if (f := parser.feed(line)) is not None]
        await connection.disconnect()
    return frames
