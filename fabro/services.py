"""The long-lived objects of a server process, built once and shared by every request."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from contextlib import suppress
from typing import Any

from fabro.auth.chain import AuthChain
from fabro.chat import SessionChats
from fabro.config import ConfigWatcher, LlmSettings, Settings
from fabro.engine.manager import RunManager
from fabro.llm.provider import LlmBackend
from fabro.llm.resolve import LevelChoice
from fabro.llm.router import choose_backend, close_backend
from fabro.storage.db import Database

log = logging.getLogger(__name__)

CONFIG_POLL_S = 5.0


def ensure_private_dir(path: os.PathLike[str] | str) -> None:
    """Create a directory with mode 0700 (data dir, keys dir) if it is missing."""
    os.makedirs(path, mode=0o700, exist_ok=True)


class Services:
    """Store, authentication and background tasks of one server; closed exactly once."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        auth: AuthChain,
        env: Mapping[str, str] | None = None,
        llm: LlmBackend | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.auth = auth
        self.env = dict(os.environ if env is None else env)
        # [llm] is the one section that hot-reloads; everything else is read from settings.
        self.llm_settings: LlmSettings = settings.llm
        # Simulated with --dry-run or when no provider is configured (engine.md §10.3).
        self.llm = llm if llm is not None else choose_backend(self.env, dry_run=settings.dry_run)
        self.runs = RunManager(
            db,
            settings.data_dir,
            settings.max_concurrent_runs,
            self.llm,
            self.env,
            lambda: self.llm_settings,
            dry_run=settings.dry_run,
        )
        self.chats = SessionChats(db, self.llm, self.server_llm_default)
        self._tasks: list[asyncio.Task[Any]] = []
        self._started = False
        self._closed = False

    @classmethod
    async def open(
        cls,
        settings: Settings,
        env: Mapping[str, str] | None = None,
        auth: AuthChain | None = None,
    ) -> Services:
        """Create the data directory, open and migrate the database, build the auth chain."""
        env = os.environ if env is None else env
        ensure_private_dir(settings.data_dir)
        if auth is None:
            from fabro.auth.setup import build_auth_chain

            auth = build_auth_chain(settings, env)
        db = await Database.open(settings.db_path)
        return cls(settings, db, auth, env)

    async def start(self) -> None:
        """Recover interrupted runs and start the scheduler (before the listener accepts)."""
        if not self._started:
            self._started = True
            await self.runs.start()

    def start_config_watcher(self, env: Mapping[str, str], flags: Mapping[str, Any]) -> None:
        if self.settings.config_path is None:
            return
        watcher = ConfigWatcher(self.settings, env, flags, self._apply_llm)
        self._tasks.append(asyncio.create_task(self._watch(watcher), name="config-watcher"))

    def _apply_llm(self, llm: LlmSettings) -> None:
        self.llm_settings = llm

    def server_llm_default(self) -> LevelChoice:
        """The server default level of model resolution (engine.md §10.1), hot-reloaded."""
        return LevelChoice(self.llm_settings.model, self.llm_settings.provider)

    @staticmethod
    async def _watch(watcher: ConfigWatcher) -> None:
        while True:
            await asyncio.sleep(CONFIG_POLL_S)
            await asyncio.to_thread(watcher.check_once)

    async def stop_work(self) -> None:
        """Stop engines and generations and end every event stream; safe to call twice.

        The server calls this on SIGINT/SIGTERM, before the HTTP server drains its
        connections, so open SSE streams end instead of holding the drain while runs go on.
        """
        await self.runs.close()
        await self.chats.close()

    async def close(self) -> None:
        """Stop background tasks, then close the database (after its open transaction)."""
        if self._closed:
            return
        self._closed = True
        await self.stop_work()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError):
                await task
        await close_backend(self.llm)
        await self.db.close()
