"""Pause and unpause as the engine sees them: a hold point before each stage (engine.md §7)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fabro.engine.stage import Watchdog


class RunControl:
    """Set by the API (after the status change is committed); awaited by the engine."""

    def __init__(self, paused: bool = False) -> None:
        self._running = asyncio.Event()
        if not paused:
            self._running.set()
        self.held = asyncio.Event()  # set while the engine waits at the hold point

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self) -> None:
        self._running.clear()

    def unpause(self) -> None:
        self._running.set()

    async def hold(self, watchdog: Watchdog | None = None) -> None:
        """Return at once unless paused; then wait (a pause is not inactivity)."""
        if self._running.is_set():
            return
        self.held.set()
        try:
            if watchdog is None:
                await self._running.wait()
            else:
                with watchdog.suspend():
                    await self._running.wait()
        finally:
            self.held.clear()
