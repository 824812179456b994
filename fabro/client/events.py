"""A run's event stream (`GET /runs/{id}/events`) read by the client, reconnecting as needed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from fabro.auth.client import ClientSettings
from fabro.client.api import ApiError, raise_for_error
from fabro.events.sse import FrameParser

RECONNECTS = 5
RECONNECT_DELAY_S = 1.0


@dataclass(frozen=True)
class StreamedEvent:
    """One frame: its sequence number and its externally tagged event `{variant: data}`."""

    seq: int
    payload: dict[str, Any]

    @property
    def variant(self) -> str:
        return next(iter(self.payload), "")

    @property
    def data(self) -> dict[str, Any]:
        value = self.payload.get(self.variant)
        return value if isinstance(value, dict) else {}


class EventStream:
    """Events after ``after`` until the server ends the stream (after the run's last event, or
    410 when there is nothing more); a dropped connection is resumed with Last-Event-ID, up
    to RECONNECTS times in a row."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        settings: ClientSettings,
        run_id: str,
        *,
        after: int = 0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.http = http
        self.settings = settings
        self.run_id = run_id
        self.last = after
        self.failures = 0
        self.sleep = sleep

    async def events(self) -> AsyncIterator[StreamedEvent]:
        while True:
            try:
                async for event in self._connection():
                    self.last = event.seq
                    self.failures = 0
                    yield event
                return
            except (httpx.TransportError, httpx.StreamError) as exc:
                await self.dropped(exc)

    async def dropped(self, reason: object) -> None:
        """Count a lost connection; ApiError once there were too many in a row."""
        self.failures += 1
        if self.failures > RECONNECTS:
            raise ApiError(self.settings.unreachable(reason)) from None
        await self.sleep(RECONNECT_DELAY_S)

    async def _connection(self) -> AsyncIterator[StreamedEvent]:
        headers = {"Last-Event-ID": str(self.last)} if self.last else {}
        path = f"/runs/{self.run_id}/events"
        async with self.http.stream("GET", path, headers=headers) as response:
            if response.status_code == 410:
                return
            if response.status_code >= 400:
                await response.aread()
                raise_for_error(response)
            parser = FrameParser()
            async for line in response.aiter_lines():
                frame = parser.feed(line)
                if frame is None or frame.seq is None:
                    continue
                payload = json.loads(frame.data)
                if isinstance(payload, dict):
                    yield StreamedEvent(frame.seq, payload)
