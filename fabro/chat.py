"""Chat sessions' generations (api.md §11): one streamed reply per user message.

Every event is stored before it is published on the bus, so a client that reconnects with
Last-Event-ID replays exactly what it missed. A new user message cancels the generation in
flight: its partial text is discarded and it emits nothing more.

Turns and events go through the same redaction as run events, as they enter: a user's
message when it arrives, a reply piece by piece as it streams (a secret cut between two
pieces is still found), so what is stored, streamed and sent back to the model is clean.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import Any

from fabro.clock import now_ts
from fabro.events.bus import EventBus
from fabro.events.redact import Redactor, StreamRedactor
from fabro.llm.catalog import (
    DEFAULT_MODEL,
    DEFAULT_PROVIDER,
    canonical_id,
    canonical_provider,
    lookup,
)
from fabro.llm.provider import LlmBackend, LlmError, LlmRequest, Message, TextDelta
from fabro.llm.resolve import LevelChoice, resolve_model
from fabro.llm.router import streaming
from fabro.storage.session_store import SessionStore
from fabro.storage.sessions import SessionEventRecord, SessionRecord

log = logging.getLogger(__name__)

SIMULATED_REPLY = "This is a dry-run response."
MAX_TOKENS = 4096
TITLE_LIMIT = 60


def session_title(content: str) -> str:
    """The trimmed content up to 60 characters, else cut back to a space and followed by `…`."""
    text = content.strip()
    if len(text) <= TITLE_LIMIT:
        return text
    cut = text[:TITLE_LIMIT]
    space = cut.rfind(" ")
    return (cut[:space].rstrip() if space > 0 else cut) + "…"


class SessionChats:
    """Creates sessions and runs their generations; owns every generation task."""

    def __init__(
        self,
        store: SessionStore,
        llm: Callable[[], LlmBackend],
        server_default: Callable[[], LevelChoice],
        redactor: Redactor | None = None,
    ) -> None:
        self.store = store
        self.llm = llm  # the backend for a reply starting now (it may change: fabro/llm/live.py)
        self.server_default = server_default
        self.redactor = redactor or Redactor()
        self.bus: EventBus[SessionEventRecord] = EventBus()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def model_for(self, name: str | None) -> str:
        """A requested model's canonical id (unknown names kept), else the server default."""
        if name:
            return canonical_id(name)
        return resolve_model(server_default=self.server_default()).model or DEFAULT_MODEL.id

    def provider_for(self, model: str) -> str:
        known = lookup(model)
        if known is not None:
            return known.provider
        return canonical_provider(self.server_default().provider or DEFAULT_PROVIDER)

    async def create(
        self, content: str, model: str | None, system: str | None, created_by: str | None
    ) -> SessionRecord:
        """Store a session and its first user turn, and start the reply."""
        content = self.redactor.clean(content)
        system = None if system is None else self.redactor.clean(system)
        ts = now_ts()
        record = SessionRecord(
            id=str(uuid.uuid4()),
            title=session_title(content),
            model=self.model_for(model),
            created_at=ts,
            updated_at=ts,
            system=system,
            created_by=created_by,
        )
        await self.store.create_session(record, content)
        self._start(record)
        return record

    async def send(self, session: SessionRecord, content: str) -> None:
        """Append a user turn; cancel the generation in flight and start a new one."""
        content = self.redactor.clean(content)
        lock = self._locks.setdefault(session.id, asyncio.Lock())
        async with lock:
            await self._cancel(session.id)
            ts = now_ts()
            await self.store.add_session_turn(session.id, "user", content, ts)
            self._start(session)

    def _start(self, session: SessionRecord) -> None:
        task = asyncio.create_task(self._generate(session), name=f"session-{session.id}")
        self._tasks[session.id] = task
        task.add_done_callback(lambda done: self._forget(session.id, done))

    def _forget(self, session_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(session_id) is task:
            del self._tasks[session_id]

    async def _cancel(self, session_id: str) -> None:
        task = self._tasks.pop(session_id, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _emit(self, session_id: str, event: str, data: dict[str, Any]) -> None:
        ts = now_ts()
        record = await self.store.append_session_event(session_id, event, data, ts)
        self.bus.publish(session_id, record.seq, record)

    async def _generate(self, session: SessionRecord) -> None:
        try:
            parts: list[str] = []
            stream = StreamRedactor(self.redactor, lines=False)
            async with aclosing(self._deltas(session)) as deltas:
                async for piece in deltas:
                    await self._delta(session.id, stream.feed(piece), parts)
            await self._delta(session.id, stream.close(), parts)
            await self._finish(session.id, self.redactor.text("".join(parts)))
        except LlmError as error:
            await self._emit(session.id, "error", {"message": self.redactor.clean(error.message)})
        except Exception:  # a generation must end with an event, whatever went wrong
            log.exception("session %s: generation failed", session.id)
            await self._emit(session.id, "error", {"message": "Internal error."})

    async def _delta(self, session_id: str, delta: str, parts: list[str]) -> None:
        if delta:
            parts.append(delta)
            await self._emit(session_id, "content_delta", {"delta": delta})

    async def _deltas(self, session: SessionRecord) -> AsyncGenerator[str, None]:
        llm = self.llm()
        if llm.simulated:
            yield SIMULATED_REPLY
            return
        turns = await self.store.list_session_turns(session.id)
        request = LlmRequest(
            provider=self.provider_for(session.model),
            model=session.model,
            messages=[
                Message("assistant" if turn.kind == "assistant" else "user", turn.content)
                for turn in turns
                if turn.kind in ("user", "assistant")
            ],
            system=session.system or "",
            max_tokens=MAX_TOKENS,
        )
        backend = streaming(llm)
        if backend is None:  # a backend without streaming: the whole reply as one delta
            yield (await llm.complete(request)).text
            return
        async with aclosing(backend.stream(request)) as events:
            async for event in events:
                if isinstance(event, TextDelta) and event.text:
                    yield event.text

    async def _finish(self, session_id: str, text: str) -> None:
        for record in await self.store.end_reply(session_id, text, now_ts()):
            self.bus.publish(session_id, record.seq, record)

    async def close(self) -> None:
        """Cancel every generation in flight (a restart loses them; the turns are stored)."""
        for session_id in list(self._tasks):
            await self._cancel(session_id)
        self.bus.close_all()
