"""Chat sessions (api.md §11): the five routes, generations, and the replayable event stream."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from fabro.chat import session_title
from fabro.config import Settings
from fabro.events.sse import Frame, FrameParser
from tests.api.sessions_helpers import create, turns_when
from tests.llm import fake_providers as fp
from tests.llm.fake_providers import ANTHROPIC_PATH, FakeProviders, live_app, provider_env, running

DRY = "This is a dry-run response."


async def read_frames(
    client: Client,
    path: str,
    headers: dict[str, str],
    *,
    until: int,
    after: dict[str, str] | None = None,
) -> list[Frame]:
    """Frames of an open stream, up to and including the one whose id is ``until``."""
    frames: list[Frame] = []
    parser = FrameParser()
    pending = ""
    async with client.request(path, headers={**headers, **(after or {})}) as connection:
        while not frames or frames[-1].seq != until:
            chunk = await asyncio.wait_for(connection.receive(), 5)
            pending += chunk.decode()
            *lines, pending = pending.split("\n")
            for line in lines:
                parsed = parser.feed(line)
                if parsed is not None:
                    frames.append(parsed)
        await connection.disconnect()  # the stream stays open: leave it
    return frames


def test_titles() -> None:
    assert session_title("  How do I add a stage?  ") == "How do I add a stage?"
    long = "word " * 20
    assert session_title(long) == ("word " * 12).strip() + "…"
    assert session_title("x" * 70) == "x" * 60 + "…"


async def test_create_and_retrieve_with_the_simulated_backend(
    client: Client, auth_headers: dict[str, str]
) -> None:
    created = await create(client, auth_headers, content="How do I add a stage?", model="sonnet")
    assert uuid.UUID(created["id"]).version == 4
    assert created["title"] == "How do I add a stage?"
    assert created["model"] == {"id": "claude-sonnet-4-6"}
    assert created["created_at"] == created["updated_at"]
    assert set(created) == {"id", "title", "model", "created_at", "updated_at"}
    turns = await turns_when(client, auth_headers, created["id"], 2)
    assert [(t["kind"], t["content"]) for t in turns] == [
        ("user", "How do I add a stage?"),
        ("assistant", DRY),
    ]
    detail = await (await client.get(f"/sessions/{created['id']}", headers=auth_headers)).get_json()
    assert detail["updated_at"] == turns[1]["created_at"] >= created["updated_at"]
    assert list(detail) == ["id", "title", "model", "created_at", "updated_at", "turns"]


async def test_unknown_model_is_kept_and_default_is_the_server_default(
    client: Client, auth_headers: dict[str, str]
) -> None:
    assert (await create(client, auth_headers, content="a", model="llama3"))["model"] == {
        "id": "llama3"
    }
    assert (await create(client, auth_headers, content="b"))["model"] == {"id": "claude-opus-4-6"}


async def test_event_stream_replays_from_0_and_after_last_event_id(
    client: Client, auth_headers: dict[str, str]
) -> None:
    created = await create(client, auth_headers, content="Hi")
    path = f"/sessions/{created['id']}/events"
    frames = await read_frames(client, path, auth_headers, until=2)
    assert [(f.seq, f.event) for f in frames] == [
        (0, "content_delta"),
        (1, "assistant_turn"),
        (2, "done"),
    ]
    assert json.loads(frames[0].data) == {"delta": DRY}
    turn = json.loads(frames[1].data)
    assert (turn["kind"], turn["content"]) == ("assistant", DRY)
    assert json.loads(frames[2].data) == {}
    replay = await read_frames(client, path, auth_headers, until=2, after={"Last-Event-ID": "1"})
    assert [f.seq for f in replay] == [2]
    by_query = await read_frames(client, path + "?after=0", auth_headers, until=2)
    assert [f.seq for f in by_query] == [1, 2]
    bad = await client.get(path, headers={**auth_headers, "Last-Event-ID": "x"})
    assert bad.status_code == 400


async def test_list_newest_first_with_previews(
    client: Client, auth_headers: dict[str, str]
) -> None:
    first = await create(client, auth_headers, content="first")
    await turns_when(client, auth_headers, first["id"], 2)
    second = await create(client, auth_headers, content="y" * 150)
    await turns_when(client, auth_headers, second["id"], 2)
    await client.post(
        f"/sessions/{first['id']}/messages", json={"content": "z" * 120}, headers=auth_headers
    )
    await turns_when(client, auth_headers, first["id"], 4)
    listing = await (await client.get("/sessions", headers=auth_headers)).get_json()
    assert [item["id"] for item in listing["data"]] == [first["id"], second["id"]]
    assert listing["data"][0]["last_message_preview"] == DRY
    assert list(listing["data"][0]) == [
        "id",
        "title",
        "model",
        "last_message_preview",
        "created_at",
        "updated_at",
    ]
    assert second["title"] == "y" * 60 + "…"
    page = await (await client.get("/sessions?page[limit]=1", headers=auth_headers)).get_json()
    assert len(page["data"]) == 1 and page["meta"] == {"has_more": True}


async def test_not_found_and_bad_bodies(client: Client, auth_headers: dict[str, str]) -> None:
    for session_id in ("not-a-uuid", str(uuid.uuid4())):
        for method, path in (
            ("GET", f"/sessions/{session_id}"),
            ("GET", f"/sessions/{session_id}/events"),
            ("POST", f"/sessions/{session_id}/messages"),
        ):
            response = await client.open(
                path, method=method, json={"content": "x"}, headers=auth_headers
            )
            assert response.status_code == 404, path
            assert (await response.get_json())["errors"][0]["detail"] == "Session not found."
    missing = await client.post("/sessions", json={"model": "haiku"}, headers=auth_headers)
    assert (await missing.get_json())["errors"][0]["detail"] == "Missing required field 'content'."


@pytest.fixture
async def fake() -> AsyncIterator[FakeProviders]:
    async with running() as server:
        yield server


@pytest.fixture
async def live(settings: Settings, fake: FakeProviders) -> AsyncIterator[Quart]:
    async with live_app(settings, provider_env(fake)) as app:
        yield app


async def test_generation_streams_from_the_provider(
    live: Quart, fake: FakeProviders, auth_headers: dict[str, str]
) -> None:
    fake.anthropic(fp.anthropic("Hello there"), fp.anthropic("Add a hexagon node."))
    client = live.test_client()
    created = await create(
        client, auth_headers, content="Hi", model="haiku", system="You are fabro's helper."
    )
    path = f"/sessions/{created['id']}/events"
    first = await read_frames(client, path, auth_headers, until=3)
    assert [(f.event, json.loads(f.data)) for f in first[:2]] == [
        ("content_delta", {"delta": "Hello"}),
        ("content_delta", {"delta": " there"}),
    ]
    assert json.loads(first[2].data)["content"] == "Hello there"

    # Follow live: subscribe, then send the next message.
    async def follow() -> list[Frame]:
        return await read_frames(client, path, auth_headers, until=7, after={"Last-Event-ID": "3"})

    follower = asyncio.create_task(follow())
    await asyncio.sleep(0.05)
    sent = await client.post(
        f"/sessions/{created['id']}/messages",
        json={"content": "And a human gate?"},
        headers=auth_headers,
    )
    assert sent.status_code == 202 and await sent.get_json() == {"accepted": True}
    live_frames = await follower
    assert [(f.seq, f.event) for f in live_frames] == [
        (4, "content_delta"),
        (5, "content_delta"),
        (6, "assistant_turn"),
        (7, "done"),
    ]
    bodies = fake.bodies(ANTHROPIC_PATH)
    assert bodies[1]["max_tokens"] == 4096
    assert bodies[1]["system"] == "You are fabro's helper."
    assert [(m["role"], m["content"][0]["text"]) for m in bodies[1]["messages"]] == [
        ("user", "Hi"),
        ("assistant", "Hello there"),
        ("user", "And a human gate?"),
    ]


async def test_a_new_message_cancels_the_generation_in_flight(
    live: Quart, fake: FakeProviders, auth_headers: dict[str, str]
) -> None:
    slow = fp.anthropic("This answer is slow to arrive")
    slow.pause_s, slow.hold_after = 30.0, 4  # stalls after its first text delta
    fake.anthropic(slow, fp.anthropic("Fast."))
    client = live.test_client()
    created = await create(client, auth_headers, content="one", model="haiku")
    path = f"/sessions/{created['id']}/events"
    await read_frames(client, path, auth_headers, until=0)  # the first reply is under way
    await client.post(
        f"/sessions/{created['id']}/messages", json={"content": "two"}, headers=auth_headers
    )
    turns = await turns_when(client, auth_headers, created["id"], 3)
    assert [(t["kind"], t["content"]) for t in turns] == [
        ("user", "one"),
        ("user", "two"),
        ("assistant", "Fast."),
    ]
    everything = await _all_events(client, path, auth_headers)
    # The cancelled reply left its deltas and nothing else; the new one ends with `done`.
    events = [(f.event, json.loads(f.data)) for f in everything]
    assert events[0] == ("content_delta", {"delta": "This answer is"})
    assert events[-4:] == [
        ("content_delta", {"delta": "Fa"}),
        ("content_delta", {"delta": "st."}),
        (
            "assistant_turn",
            {"kind": "assistant", "content": "Fast.", "created_at": turns[2]["created_at"]},
        ),
        ("done", {}),
    ]
    assert [event for event, _ in events].count("assistant_turn") == 1


async def _all_events(client: Client, path: str, headers: dict[str, str]) -> list[Frame]:
    """Frames until the first `done` (the stream itself never ends)."""
    frames: list[Frame] = []
    parser = FrameParser()
    pending = ""
    async with client.request(path, headers=headers) as connection:
        while not frames or frames[-1].event != "done":
            pending += (await asyncio.wait_for(connection.receive(), 5)).decode()
            *lines, pending = pending.split("\n")
            frames += [f for line in lines if (f := parser.feed(line)) is not None]
        await connection.disconnect()
    return frames


async def test_provider_failure_is_an_error_event(
    live: Quart, fake: FakeProviders, auth_headers: dict[str, str]
) -> None:
    fake.anthropic(fp.error(401, "invalid x-api-key"))
    client = live.test_client()
    created = await create(client, auth_headers, content="Hi", model="haiku")
    frames = await read_frames(client, f"/sessions/{created['id']}/events", auth_headers, until=0)
    assert (frames[0].event, json.loads(frames[0].data)) == (
        "error",
        {"message": "LLM error: anthropic returned HTTP 401: invalid x-api-key"},
    )


async def test_sessions_survive_a_restart(settings: Settings, auth_headers: dict[str, str]) -> None:
    async with live_app(settings, {}) as app:
        created = await create(app.test_client(), auth_headers, content="remember me")
        await turns_when(app.test_client(), auth_headers, created["id"], 2)
    async with live_app(settings, {}) as app:
        client = app.test_client()
        turns = await turns_when(client, auth_headers, created["id"], 2)
        assert turns[0]["content"] == "remember me"
        frames = await read_frames(
            client, f"/sessions/{created['id']}/events", auth_headers, until=2
        )
        assert [f.seq for f in frames] == [0, 1, 2]


async def test_start_position_beyond_sqlite_integers_is_no_error(
    client: Client, auth_headers: dict[str, str]
) -> None:
    # Found by API fuzzing: ?after=9223372036854775808 overflowed the SQLite query inside the
    # stream, cutting the 200 response off mid-body.
    created = await create(client, auth_headers, content="Hi")
    path = f"/sessions/{created['id']}/events"
    for query, extra in ((f"?after={2**63}", {}), ("", {"Last-Event-ID": str(10**30)})):
        headers = {**auth_headers, **extra}
        async with client.request(path + query, headers=headers) as connection:
            with pytest.raises(TimeoutError):  # nothing lies that far: the stream waits
                async with asyncio.timeout(0.3):
                    await connection.receive()
            assert connection.status_code == 200
            await connection.disconnect()


async def test_replay_comes_in_one_chunk(client: Client, auth_headers: dict[str, str]) -> None:
    # Found by API fuzzing: replaying frame by frame, every client that dropped the stream
    # mid-replay (after reading what it wanted) left writes to a dead socket, each logged by
    # asyncio ("socket.send() raised exception"): thousands of warnings in a fuzz run.
    created = await create(client, auth_headers, content="Hi")
    path = f"/sessions/{created['id']}/events"
    await read_frames(client, path, auth_headers, until=2)  # the generation is done
    async with client.request(path, headers=auth_headers) as connection:
        async with asyncio.timeout(5):
            chunk = await connection.receive()
        await connection.disconnect()
    parser = FrameParser()
    frames = [f for line in chunk.decode().split("\n") if (f := parser.feed(line)) is not None]
    assert [f.seq for f in frames] == [0, 1, 2]
