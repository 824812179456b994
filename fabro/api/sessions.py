"""Chat sessions (api.md §11): create, list, retrieve, send a message, and the event stream.

The event stream works like the run event stream: subscribe to the live bus first, then replay
the store after the client's position, skipping what was already sent. Session event ids start
at 0, so "no position" means "from the first event" rather than "after 0".
"""

from __future__ import annotations

import uuid

from quart import Response

from fabro.api.bodies.common import ModelRef
from fabro.api.bodies.sessions import (
    CreateSessionRequest,
    CreateSessionResponse,
    PaginatedSessionList,
    SendMessageRequest,
    SendMessageResponse,
    SessionDetail,
    SessionListItem,
)
from fabro.api.context import Handler, principal, services
from fabro.api.pagination import page_params
from fabro.api.request import read_body
from fabro.api.respond import json_response
from fabro.api.streams import SSE_HEADERS, replay_then_live, start_position
from fabro.errors import NotFound
from fabro.events.sse import frame
from fabro.storage.sessions import SessionEventRecord, SessionRecord

PREVIEW_LIMIT = 100


def _preview(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= PREVIEW_LIMIT else text[:PREVIEW_LIMIT] + "…"


async def session_or_404(session_id: str) -> SessionRecord:
    try:
        uuid.UUID(session_id)
    except ValueError:
        raise NotFound("Session not found.") from None
    session = await services().sessions.get_session(session_id)
    if session is None:
        raise NotFound("Session not found.")
    return session


async def list_sessions() -> PaginatedSessionList:
    page = page_params()
    found = await services().sessions.list_sessions(limit=page.limit + 1, offset=page.offset)
    data = [
        SessionListItem(
            id=item.session.id,
            title=item.session.title,
            model=ModelRef(id=item.session.model),
            last_message_preview=_preview(item.last_turn),
            created_at=item.session.created_at,
            updated_at=item.session.updated_at,
        )
        for item in found[: page.limit]
    ]
    return PaginatedSessionList.of(data, len(found) > page.limit)


async def create_session() -> Response:
    body = await read_body(CreateSessionRequest)
    login = principal().login
    session = await services().chats.create(body.content, body.model, body.system, login)
    created = CreateSessionResponse.from_record(session)
    return json_response(created, 201, {"Location": f"/sessions/{session.id}"})


async def retrieve_session(id: str) -> SessionDetail:
    session = await session_or_404(id)
    turns = await services().sessions.list_session_turns(session.id)
    return SessionDetail.with_turns(session, turns)


async def send_session_message(id: str) -> Response:
    body = await read_body(SendMessageRequest)
    session = await session_or_404(id)
    await services().chats.send(session, body.content)
    return json_response(SendMessageResponse(accepted=True), 202)


async def stream_session_events(id: str) -> Response:
    after = start_position(default=-1)  # session ids start at 0
    session = await session_or_404(id)
    store, session_id = services().sessions, session.id  # what the stream's closure holds
    subscription = services().chats.bus.subscribe(session_id)
    frames = replay_then_live(
        subscription,
        after,
        read_after=lambda seq, limit: store.session_events_after(session_id, seq, limit=limit),
        encode=_frame,
    )
    response = Response(frames, 200, SSE_HEADERS)
    response.timeout = None  # the stream stays open
    return response


def _frame(record: SessionEventRecord) -> bytes:
    return frame(record.data, id=record.seq, event=record.event)


HANDLERS: dict[str, Handler] = {
    "listSessions": list_sessions,
    "createSession": create_session,
    "retrieveSession": retrieve_session,
    "sendSessionMessage": send_session_message,
    "streamSessionEvents": stream_session_events,
}
