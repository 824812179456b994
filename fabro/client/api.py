"""The core of the API client: one request, its errors, and how to read a run's status."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from fabro.auth.client import ClientSettings, http_client

TERMINAL = frozenset({"completed", "failed", "cancelled"})


class ApiError(Exception):
    """An error response (any status >= 400) or a connection failure, already worded.

    ``status`` is the HTTP status, or None when the server could not be reached.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def request(settings: ClientSettings, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One API call; ApiError for a connection failure or an error answer."""
    try:
        with http_client(settings, timeout=30.0) as client:
            response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise ApiError(settings.unreachable(exc)) from None
    raise_for_error(response)
    return response


def raise_for_error(response: httpx.Response) -> None:
    """ApiError `<status> <title>: <detail>` from the error envelope of an answer >= 400."""
    if response.status_code < 400:
        return
    try:
        error = response.json()["errors"][0]
        message = f"{error['status']} {error['title']}: {error['detail']}"
    except (ValueError, KeyError, IndexError, TypeError):
        message = f"{response.status_code} {response.reason_phrase}"
    raise ApiError(message, response.status_code)


def run_status(run: Mapping[str, Any]) -> str:
    """fabro's status of a run from any run body.

    List items carry it in `run_status` (their `status` is the original web app's board
    column); RunStatusResponse carries it in `status`.
    """
    return str(run.get("run_status") or run.get("status") or "")


def pending_question(run: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The question a run waits on (`pending_question`, or a list item's `question`)."""
    question = run.get("pending_question") or run.get("question")
    return question if isinstance(question, Mapping) else None


def shown_status(run: Mapping[str, Any]) -> str:
    """The status people read: `waiting` for a running run that waits for an answer."""
    status = run_status(run)
    if status == "running" and pending_question(run) is not None:
        return "waiting"
    return status
