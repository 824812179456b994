"""Talking to models through the server: the model catalog, one-off completions (whole or
streamed) and chat sessions."""

from __future__ import annotations

from dataclasses import replace

import msgspec

from fabro.api.bodies.completions import (
    CompletionMessage,
    CompletionResponse,
    CompletionTool,
    CompletionToolChoice,
    CreateCompletionRequest,
    Model,
    ModelTestResult,
    PaginatedModelList,
    TextPart,
)
from fabro.api.bodies.sessions import (
    CreateSessionRequest,
    CreateSessionResponse,
    PaginatedSessionList,
    SendMessageRequest,
    SendMessageResponse,
    SessionDetail,
    SessionListItem,
)
from fabro.client.calls import Call, PagedCall
from fabro.client.core import Events, following
from fabro.client.endpoints.shared import ClientParts, JsonObject, once, segment
from fabro.client.methods import endpoint, events, paged, streamed
from fabro.client.streams import EventFollower, StreamedSessionEvent, session_event


class ModelEndpoints(ClientParts):
    """Models, completions and chat sessions."""

    # ---- models and completions ----------------------------------------------------------

    @paged
    def list_models(self) -> PagedCall[Model]:
        """`GET /models`: the model catalog."""
        return PagedCall("/models", PaginatedModelList)

    @endpoint
    def test_model(self, model_id: str) -> Call[ModelTestResult]:
        """`POST /models/{id}/test`: one short call of the model through its provider (a
        failure is a result with status "error", not an exception). Not retried: each try
        is a provider call."""
        return Call("POST", f"/models/{segment(model_id)}/test", ModelTestResult)

    @endpoint
    def create_completion(
        self,
        messages: str | list[CompletionMessage],
        *,
        model: str | None = None,
        provider: str | None = None,
        system: str | None = None,
        tools: list[CompletionTool] | None = None,
        tool_choice: CompletionToolChoice | None = None,
        schema: JsonObject | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        stop_sequences: list[str] | None = None,
        reasoning_effort: str | None = None,
        provider_options: JsonObject | None = None,
    ) -> Call[CompletionResponse]:
        """`POST /completions`, answered whole (not streamed): one model call. ``messages``:
        the conversation, or a text sent as one user message. Not retried: each try is a
        provider call."""
        if isinstance(messages, str):
            messages = [CompletionMessage(role="user", content=[TextPart(data=messages)])]
        body = CreateCompletionRequest(
            messages=messages,
            model=model,
            provider=provider,
            system=system,
            stream=False,  # the server streams unless told not to
            tools=tools,
            tool_choice=tool_choice,
            schema=schema,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            stop_sequences=stop_sequences,
            reasoning_effort=reasoning_effort,
            provider_options=provider_options,
        )
        return Call("POST", "/completions", CompletionResponse, body=body)

    stream_completion = streamed(
        "stream_completion",
        create_completion,
        JsonObject,
        lambda call: replace(call, body=msgspec.structs.replace(call.body, stream=True)),
        """`POST /completions`, streamed: the same arguments as ``create_completion``; yields
        each stream event (`{"type": "stream_start"}`, text deltas, ..., the finish with its
        usage) as it arrives. Not retried: each try is a provider call.""",
    )

    # ---- chat sessions -------------------------------------------------------------------

    @paged
    def list_sessions(self) -> PagedCall[SessionListItem]:
        """`GET /sessions`: the chat sessions."""
        return PagedCall("/sessions", PaginatedSessionList)

    @endpoint
    def create_session(
        self, content: str, *, model: str | None = None, system: str | None = None
    ) -> Call[CreateSessionResponse]:
        """`POST /sessions`: a chat session opened with the message ``content`` (the answer
        comes as session events). Retried safely: its Idempotency-Key makes the server replay
        the first answer instead of opening a second session."""
        body = CreateSessionRequest(content=content, model=model, system=system)
        return Call(
            "POST", "/sessions", CreateSessionResponse, body=body, headers=once(), retry_safe=True
        )

    @endpoint
    def get_session(self, session_id: str) -> Call[SessionDetail]:
        """`GET /sessions/{id}`: a session and its turns."""
        return Call("GET", f"/sessions/{segment(session_id)}", SessionDetail, retry_safe=True)

    @endpoint
    def send_message(self, session_id: str, text: str) -> Call[SendMessageResponse]:
        """`POST /sessions/{id}/messages`: the next user message (accepted; the answer comes
        as session events). Retried safely: its Idempotency-Key makes the server replay the
        first answer instead of sending the message twice."""
        path = f"/sessions/{segment(session_id)}/messages"
        body = SendMessageRequest(content=text)
        return Call("POST", path, SendMessageResponse, body=body, headers=once(), retry_safe=True)

    @events
    def stream_session_events(
        self, session_id: str, *, after: int = -1
    ) -> Events[StreamedSessionEvent]:
        """`GET /sessions/{id}/events`: a chat session's events after ``after`` (-1: all,
        from 0), each once and in order, reconnecting as ``stream_run_events`` does; the
        stream stays open: stop reading when done (e.g. after the `done` event)."""
        path = f"/sessions/{segment(session_id)}/events"
        return following(EventFollower(self.settings, path, after, session_event), None)
