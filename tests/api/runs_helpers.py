"""Helpers for API tests that drive real runs through the real engine."""

from __future__ import annotations

import asyncio
from typing import Any

from quart.typing import TestClientProtocol as Client

LINEAR = """digraph Linear {
  graph [goal="Say hello"]
  start [shape=Mdiamond]
  work [label="Work", prompt="Do $goal"]
  exit [shape=Msquare]
  start -> work -> exit
}"""

GATED = """digraph Gated {
  start [shape=Mdiamond]
  approve [shape=hexagon, label="Approve Plan"]
  done [shape=parallelogram, script="echo approved"]
  exit [shape=Msquare]
  start -> approve
  approve -> done [label="[A] Approve"]
  approve -> exit [label="[R] Reject"]
  done -> exit
}"""

SLOW = """digraph Slow {
  start [shape=Mdiamond]
  wait [shape=parallelogram, script="sleep 30"]
  exit [shape=Msquare]
  start -> wait -> exit
}"""


async def start(client: Client, headers: dict[str, str], dot: str = LINEAR, **extra: Any) -> Any:
    response = await client.post("/runs", json={"dot_source": dot, **extra}, headers=headers)
    assert response.status_code == 201, await response.get_data(as_text=True)
    return await response.get_json()


async def wait_for(
    client: Client, headers: dict[str, str], run_id: str, statuses: set[str], limit_s: float = 20
) -> dict[str, Any]:
    """Poll GET /runs/{id} until its status is one of ``statuses``."""
    deadline = asyncio.get_running_loop().time() + limit_s
    while True:
        body: dict[str, Any] = await (
            await client.get(f"/runs/{run_id}", headers=headers)
        ).get_json()
        if body["status"] in statuses:
            return body
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"run {run_id} stuck in {body['status']}")
        await asyncio.sleep(0.02)


async def wait_for_question(
    client: Client, headers: dict[str, str], run_id: str, limit_s: float = 20
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + limit_s
    while True:
        page = await (await client.get(f"/runs/{run_id}/questions", headers=headers)).get_json()
        if page["data"]:
            return page["data"][0]  # type: ignore[no-any-return]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("no question appeared")
        await asyncio.sleep(0.02)
