"""Helpers for end-to-end run tests: a JWT-configured `fabro serve`, SSE reading, polling."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from fabro.auth.keys import ensure_key_pair, mint_token
from fabro.events.sse import FrameParser
from tests.e2e.serverproc import ServerProcess, start_server

USER = "alice"
TERMINAL = {"completed", "failed", "cancelled"}
TERMINAL_EVENTS = {"WorkflowRunCompleted", "WorkflowRunFailed", "RunCancelled"}


def server_toml(max_concurrent_runs: int = 20) -> str:
    return (
        f"max_concurrent_runs = {max_concurrent_runs}\n"
        "[api]\n"
        'authentication_strategies = ["jwt"]\n'
        "[web.auth]\n"
        f'allowed_usernames = ["{USER}"]\n'
    )


def token_for(data_dir: Path) -> str:
    """Create (or reuse) the data dir's key pair, so the server trusts it; mint a token."""
    key = ensure_key_pair(data_dir / "keys")
    return mint_token(key, subject=USER, issuer="fabro-web", ttl_s=3600)


def jwt_server(
    start: Callable[..., ServerProcess] | None,
    workdir: Path,
    data_dir: Path,
    *,
    max_concurrent_runs: int = 20,
) -> tuple[ServerProcess, str]:
    """A server with JWT for alice on ``data_dir`` (started through ``start`` when given)."""
    token = token_for(data_dir)
    config = server_toml(max_concurrent_runs)
    if start is None:
        return start_server(workdir, config=config, data_dir=data_dir), token
    return start(workdir=workdir, config=config, data_dir=data_dir), token


@dataclass(frozen=True)
class Event:
    """One SSE frame of a run stream: its id and its externally tagged payload."""

    seq: int
    variant: str
    data: dict[str, Any]
    raw: str = field(repr=False)


def to_event(seq: int | None, data: str) -> Event:
    assert seq is not None, f"frame without a numeric id: {data}"
    tagged = json.loads(data)
    assert isinstance(tagged, dict) and len(tagged) == 1, f"not externally tagged: {data}"
    ((variant, payload),) = tagged.items()
    return Event(seq, variant, payload if isinstance(payload, dict) else {"value": payload}, data)


def iter_events(response: httpx.Response) -> Iterator[Event]:
    """The events of a streaming SSE response, as they arrive."""
    parser = FrameParser()
    for line in response.iter_lines():
        frame = parser.feed(line)
        if frame is not None:
            assert frame.event is None, f"unexpected event type {frame.event!r}"
            yield to_event(frame.seq, frame.data)


def read_events(
    http: httpx.Client, run_id: str, *, last_event_id: int | None = None
) -> list[Event]:
    """Follow a run's stream until the server ends it (after the terminal event)."""
    headers = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}
    with http.stream("GET", f"/runs/{run_id}/events", headers=headers, timeout=60) as response:
        assert response.status_code == 200, response.read()
        return list(iter_events(response))


def wait_until(
    what: str, probe: Callable[[], Any], *, timeout_s: float = 30.0, period_s: float = 0.05
) -> Any:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(period_s)


def wait_for_status(
    http: httpx.Client, run_id: str, statuses: set[str], timeout_s: float = 30.0
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        body: dict[str, Any] = http.get(f"/runs/{run_id}").json()
        return body if body["status"] in statuses else None

    result: dict[str, Any] = wait_until(
        f"run {run_id} to reach {sorted(statuses)}", probe, timeout_s=timeout_s
    )
    return result


def start_run(http: httpx.Client, dot: str, **extra: Any) -> str:
    response = http.post("/runs", json={"dot_source": dot, **extra})
    assert response.status_code == 201, response.text
    run_id: str = response.json()["id"]
    return run_id


def assert_contiguous(events: list[Event], first: int = 1) -> None:
    """Ids ``first``, ``first+1``, ... without gap or duplicate."""
    ids = [event.seq for event in events]
    assert ids == list(range(first, first + len(ids))), ids
