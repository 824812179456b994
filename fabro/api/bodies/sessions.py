"""Bodies of chat sessions (api.md §11)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import msgspec
from msgspec import UNSET

from fabro.api.bodies.common import Body, JsonObject, ModelRef, Opt, Page
from fabro.api.bodies.runs import NonBlank
from fabro.storage.sessions import SessionRecord, SessionTurnRecord

SESSION_EVENTS = ("content_delta", "assistant_turn", "tool_turn", "done", "error")


class SessionListItem(Body):
    id: str
    title: str
    model: ModelRef
    last_message_preview: str
    created_at: str
    updated_at: str


class PaginatedSessionList(Page[SessionListItem]):
    pass


class CreateSessionRequest(Body):
    content: NonBlank
    model: str | None = None
    system: str | None = None

    SCHEMA_EXTRA: ClassVar[dict[str, Any]] = {
        "examples": [{"content": "How do I add a stage?", "model": "sonnet"}]
    }


class CreateSessionResponse(Body):
    id: str
    title: str
    model: ModelRef
    created_at: str
    updated_at: str

    @classmethod
    def from_record(cls, session: SessionRecord) -> CreateSessionResponse:
        return CreateSessionResponse(
            id=session.id,
            title=session.title,
            model=ModelRef(id=session.model),
            created_at=session.created_at,
            updated_at=session.updated_at,
        )


class SessionTurn(Body):
    kind: Literal["user", "assistant", "tool"]
    created_at: str
    content: Opt[str] = UNSET
    tools: Opt[list[JsonObject]] = UNSET


class SessionDetail(CreateSessionResponse):
    turns: list[SessionTurn]

    @classmethod
    def with_turns(
        cls, session: SessionRecord, turns: Sequence[SessionTurnRecord]
    ) -> SessionDetail:
        """The session and its turns (their JSON form, ``SessionTurnRecord.to_json``)."""
        summary = msgspec.structs.asdict(CreateSessionResponse.from_record(session))
        stored = [turn.to_json() for turn in turns]
        return cls(**summary, turns=msgspec.convert(stored, list[SessionTurn]))


class SendMessageRequest(Body):
    content: NonBlank

    SCHEMA_EXTRA: ClassVar[dict[str, Any]] = {"examples": [{"content": "And a human gate?"}]}


class SendMessageResponse(Body):
    accepted: bool
