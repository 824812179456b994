"""Creating chat sessions and waiting for their turns, for the session and security tests."""

from __future__ import annotations

import asyncio
from typing import Any

from quart.typing import TestClientProtocol as Client


async def create(client: Client, headers: dict[str, str], **body: Any) -> Any:
    response = await client.post("/sessions", json=body, headers=headers)
    assert response.status_code == 201, await response.get_data(as_text=True)
    created = await response.get_json()
    assert response.headers["Location"] == f"/sessions/{created['id']}"
    return created


async def turns_when(
    client: Client, headers: dict[str, str], session_id: str, count: int
) -> list[dict[str, Any]]:
    """Poll until the session has ``count`` turns."""
    for _ in range(250):
        detail = await (await client.get(f"/sessions/{session_id}", headers=headers)).get_json()
        if len(detail["turns"]) >= count:
            return list(detail["turns"])
        await asyncio.sleep(0.02)
    raise AssertionError(f"session {session_id} has {len(detail['turns'])} turns")
