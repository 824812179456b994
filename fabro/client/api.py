"""How the CLI reads a run's status from a run body (its JSON form: ``msgspec.to_builtins``
of a RunStatusResponse or a RunListItem)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

TERMINAL = frozenset({"completed", "failed", "cancelled"})


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


def plain(body: object) -> Any:
    """A typed body as the JSON the server sent (field names as on the wire)."""
    return msgspec.to_builtins(body)
