"""Chat sessions (api.md §11): create, list, retrieve, send a message, and the event stream.

The event stream works like the run event stream: subscribe to the live bus first, then replay
the store after the client's position, skipping what was already sent. Session event ids start
at 0, so "no position" means "from the first event" rather than "after 0".
"""

from __future__ import annotations

import uuid
from typing import Any

from quart import Response, jsonify

from fabro.api.context import Handler, principal, services
from fabro.api.pagination import page_params, paginated
from fabro.api.request import field, json_body
from fabro.api.streams import SSE_HEADERS, replay_then_live, start_position
from fabro.errors import BadRequest, NotFound
from fabro.events.sse import frame
from fabro.storage import sessions
from fabro.storage.sessions import SessionEventRecord, SessionRecord

PREVIEW_LIMIT = 100


def _summary(session: SessionRecord) -> dict[str, Any]:
    return {
        "id": session.id,
        "title": session.title,
        "model": {"id": session.model},
        "created_at": session.created_at,
        "updated_at": session.updated_at,
    }


def _preview(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= PREVIEW_LIMIT else text[:PREVIEW_LIMIT] + "…"


async def session_or_404(session_id: str) -> SessionRecord:
    try:
        uuid.UUID(session_id)
    except ValueError:
        raise NotFound("Session not found.") from None
    session = await sessions.get_session(services().db, session_id)
    if session is None:
        raise NotFound("Session not found.")
    return session


def _content(body: dict[str, Any]) -> str:
    content: str = field(body, "content", str, required=True)
    if not content.strip():
        raise BadRequest("Field 'content' must not be empty.")
    return content


async def list_sessions() -> dict[str, Any]:
    page = page_params()
    found = await sessions.list_sessions(services().db, limit=page.limit + 1, offset=page.offset)
    data = [
        {
            "id": item.session.id,
            "title": item.session.title,
            "model": {"id": item.session.model},
            "last_message_preview": _preview(item.last_turn),
            "created_at": item.session.created_at,
            "updated_at": item.session.updated_at,
        }
        for item in found[: page.limit]
    ]
    return paginated(data, len(found) > page.limit)


async def create_session() -> Response:
    body = await json_body()
    content = _content(body)
    model = field(body, "model", str)
    system = field(body, "system", str)
    session = await services().chats.create(content, model, system, principal().login)
    response = jsonify(_summary(session))
    response.status_code = 201
    response.headers["Location"] = f"/sessions/{session.id}"
    return response


async def retrieve_session(id: str) -> dict[str, Any]:
    session = await session_or_404(id)
    turns = await sessions.list_turns(services().db, session.id)
    return {**_summary(session), "turns": [turn.to_json() for turn in turns]}


async def send_session_message(id: str) -> Response:
    body = await json_body()
    session = await session_or_404(id)
    await services().chats.send(session, _content(body))
    response = jsonify({"accepted": True})
    response.status_code = 202
    return response


async def stream_session_events(id: str) -> Response:
    after = start_position(default=-1)  # session ids start at 0
    session = await session_or_404(id)
    db, session_id = services().db, session.id  # what the stream's closure holds
    subscription = services().chats.bus.subscribe(session_id)
    frames = replay_then_live(
        subscription,
        after,
        read_after=lambda seq, limit: sessions.events_after(db, session_id, seq, limit=limit),
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
