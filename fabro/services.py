"""The long-lived objects of a server process, built once and shared by every request."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from contextlib import suppress
from typing import Any

from fabro.auth.chain import AuthChain
from fabro.auth.keys import (
    PRIVATE_KEY_ENV,
    UnusableKeyError,
    default_private_key_path,
    pem_text,
    read_key_file,
)
from fabro.chat import SessionChats
from fabro.config import LlmSettings, Settings
from fabro.config_watch import ConfigWatcher
from fabro.engine.governor import Governor
from fabro.engine.scheduler import Scheduler
from fabro.events.redact import Redactor, secret_texts, secret_values
from fabro.governance.policy import PolicySource
from fabro.llm.live import LiveBackend
from fabro.llm.provider import LlmBackend
from fabro.llm.resolve import LevelChoice
from fabro.llm.router import choose_backend
from fabro.schedules.ticker import FireStarter, Ticker
from fabro.secrets.keyfile import key_path
from fabro.secrets.vault import PROVIDER_KEYS, Vault
from fabro.startup import open_database, prepare_data_dir
from fabro.storage.audit import AuditLog
from fabro.storage.db import Database
from fabro.storage.event_feed import EventFeed
from fabro.storage.idempotency import IdempotentRequests
from fabro.storage.receipts import Receipts
from fabro.storage.schedules import Schedules
from fabro.storage.secrets import SecretRows
from fabro.storage.session_store import SessionStore
from fabro.storage.sqlite_sessions import SqliteSessionStore
from fabro.storage.sqlite_store import SqliteStore
from fabro.storage.store import Store
from fabro.storage.ui_sessions import UiSessions
from fabro.storage.webhooks import WebhookStore
from fabro.webhooks.sealing import KeyFileSealer, webhook_key_path
from fabro.webhooks.service import Webhooks

log = logging.getLogger(__name__)

CONFIG_POLL_S = 5.0


def server_secrets(settings: Settings, env: Mapping[str, str]) -> frozenset[str]:
    """Every value redacted wherever it appears: the secret variables of ``env`` (built-in
    names and [redaction] secret_env) and the JWT signing key this server can read (the PEM
    in the data folder, FABRO_JWT_PRIVATE_KEY decoded), whole and line by line."""
    keys: list[str] = []
    with suppress(UnusableKeyError):
        pem = read_key_file(default_private_key_path(settings.data_dir))
        keys.append(pem.decode("ascii", "replace"))
    if env.get(PRIVATE_KEY_ENV):
        with suppress(UnusableKeyError):
            keys.append(pem_text(env[PRIVATE_KEY_ENV]).decode("ascii", "replace"))
    return secret_values(env, settings.redaction.secret_env) | secret_texts(keys)


class Services:
    """Store, authentication and background tasks of one server; closed exactly once."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        auth: AuthChain,
        env: Mapping[str, str] | None = None,
        llm: LlmBackend | None = None,
        provider_keys: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        # The database both stores share, opened and closed here: the rest of fabro/ goes
        # through the stores (tests/storage/test_store.py checks); tests inspect rows with it.
        self.db = db
        self.store: Store = SqliteStore(db)
        self.sessions: SessionStore = SqliteSessionStore(db)
        self.ui_sessions = UiSessions(db)  # the web UI's sign-ins
        self.receipts = Receipts(db)  # reads and the chain's check (the engine writes them)
        self.idempotent_requests = IdempotentRequests(db)  # Idempotency-Key replays
        self.schedules = Schedules(db)  # cron schedules and their fires (the ticker's)
        self._ticker: asyncio.Task[None] | None = None
        self.audit = AuditLog(db)  # who changed what, signed in, was refused
        self.event_feed = EventFeed(db)  # every run's events in one order (GET /events)
        self.auth = auth
        self.env = dict(os.environ if env is None else env)
        # [llm] is the one section that hot-reloads; everything else is read from settings.
        self.llm_settings: LlmSettings = settings.llm
        # The policy in force (call it for the current one); its file reloads like [llm].
        self.policy = PolicySource(settings.governance.policy)
        # One redactor for runs, chats and provider errors alike.
        self.redactor = Redactor(server_secrets(settings, self.env))
        # Secrets, sealed at rest; each value joins the redactor when set and at start().
        self.secrets = Vault(SecretRows(db), key_path(settings.data_dir), self.redactor)
        # Simulated with --dry-run or when no provider is configured (engine.md §10.3); a
        # provider key the environment lacks may come from a secret (read by open(), and
        # again whenever one is set or deleted: provider_key_changed).
        self.backend = (
            LiveBackend.fixed(llm)
            if llm is not None
            else LiveBackend(
                self.env,
                lambda env, client: choose_backend(
                    env, dry_run=settings.dry_run, redactor=self.redactor, client=client
                ),
                provider_keys,
            )
        )
        self._keys_lock = asyncio.Lock()  # provider_key_changed, one at a time
        self.runs = Scheduler(
            self.store,
            settings.data_dir,
            settings.max_concurrent_runs,
            lambda: self.backend.current,
            self.env,
            lambda: self.llm_settings,
            dry_run=settings.dry_run,
            redactor=self.redactor,
            env_allowlist=settings.commands.env_allowlist,
            governor=Governor(policy=self.policy),
            secrets=self.secrets,
        )
        self.chats = SessionChats(
            self.sessions, lambda: self.backend.current, self.server_llm_default, self.redactor
        )
        # Signed webhooks: queued from committed events, woken by the run bus (issue 19).
        self.webhooks = Webhooks(
            WebhookStore(db),
            self.runs.bus,
            sealer=KeyFileSealer(webhook_key_path(settings.data_dir)),
        )
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
        """Create the data directory, build the auth chain, open and migrate the database;
        a data folder or database that cannot be written stops startup (fabro.startup)."""
        env = os.environ if env is None else env
        prepare_data_dir(settings.data_dir)
        if auth is None:
            from fabro.auth.setup import build_auth_chain

            auth = build_auth_chain(settings, env)
        db = await open_database(settings.db_path)
        # The provider keys secrets supply, for the first backend (provider_key_changed
        # rebuilds it when one is set or deleted). recover() finishes an interrupted rotation.
        vault = Vault(SecretRows(db), key_path(settings.data_dir))
        await vault.recover()
        return cls(settings, db, auth, env, provider_keys=await vault.provider_keys(env))

    @property
    def llm(self) -> LlmBackend:
        """The model backend for work starting now (a run keeps the one it started with)."""
        return self.backend.current

    async def provider_key_changed(self, name: str) -> None:
        """After secret ``name`` was set or deleted: if it is a provider key the environment
        lacks, work started from now on uses the new value (or none)."""
        if name in PROVIDER_KEYS and not self.env.get(name) and not self.settings.dry_run:
            # Shielded: a request that goes away after its change was stored still switches.
            await asyncio.shield(self._use_stored_keys())

    async def _use_stored_keys(self) -> None:
        # One at a time, each reading the keys after the change that called it: of two changes
        # in quick succession, the backend ends with the keys stored last.
        async with self._keys_lock:
            if self.backend.use_keys(await self.secrets.provider_keys(self.env)):
                log.info("secrets: the model backend now uses the provider keys as stored")

    async def start(self) -> None:
        """Recover interrupted runs and start the scheduler (before the listener accepts)."""
        if not self._started:
            self._started = True
            # Claims of requests a crash interrupted: no request of this process holds them.
            await self.idempotent_requests.release_pending()
            await self.secrets.open()  # every secret redacted before a run resumes
            await self.runs.start()
            await self.webhooks.start()

    def start_ticker(self, start: FireStarter) -> None:
        """Start the schedules' ticker (once); ``start`` starts a fire's run as POST /runs."""
        if self._ticker is None and not self._closed:
            ticker = Ticker(self.schedules, start)
            self._ticker = asyncio.create_task(ticker.run_forever(), name="schedule-ticker")

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

    async def _watch(self, watcher: ConfigWatcher) -> None:
        while True:
            await asyncio.sleep(CONFIG_POLL_S)
            await asyncio.to_thread(watcher.check_once)
            await asyncio.to_thread(self.policy.check_once)

    async def stop_work(self) -> None:
        """Stop engines and generations and end every event stream; safe to call twice.

        The server calls this on SIGINT/SIGTERM, before the HTTP server drains its
        connections, so open SSE streams end instead of holding the drain while runs go on.
        """
        if self._ticker is not None:  # no fire starts a run once the runs stop
            self._ticker.cancel()
            with suppress(asyncio.CancelledError):
                await self._ticker
        await self.webhooks.close()
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
        await self.backend.aclose()
        await self.db.close()
