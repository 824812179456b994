"""Which stored events a webhook can subscribe to, and the body a receiver gets for each.

Pure: the dispatcher (fabro/storage/webhook_queue.py) calls these on rows it reads in its
transaction, so what is sent is decided once, when the event is queued.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fabro import jsontext

# The event types a subscription may name, and the run event variant each comes from.
RUN_EVENT_TYPES: dict[str, str] = {
    "WorkflowRunStarted": "run.started",
    "InterviewStarted": "run.waiting",
    "WorkflowRunCompleted": "run.completed",
    "WorkflowRunFailed": "run.failed",
    "RunCancelled": "run.cancelled",
    "StageFailed": "stage.failed",
    "PolicyDecision": "policy.alert",
}
RECEIPT_WRITTEN = "receipt.written"
EVENT_TYPES: tuple[str, ...] = (*RUN_EVENT_TYPES.values(), RECEIPT_WRITTEN)
# Sent by `POST /webhooks/{id}/test` only; nobody subscribes to it.
PING = "ping"
# The variants the dispatcher reads at all (the rest of a run's events are skipped in SQL).
VARIANTS: tuple[str, ...] = tuple(RUN_EVENT_TYPES)


def fields_of(variant: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """A stored event's own fields: its payload is externally tagged (``{variant: {...}}``)."""
    inner = payload.get(variant)
    return dict(inner) if isinstance(inner, Mapping) else dict(payload)


def run_event_type(variant: str, fields: Mapping[str, Any]) -> str | None:
    """The webhook event type of a top-level run's event (given its fields), or None when it
    is none: a stage failure that will be retried, a policy decision other than ALERT."""
    kind = RUN_EVENT_TYPES.get(variant)
    if kind == "stage.failed" and fields.get("will_retry"):
        return None
    if kind == "policy.alert" and fields.get("decision") != "ALERT":
        return None
    return kind


def run_event_id(run_id: str, seq: int) -> str:
    """A run event's id in webhook bodies: stable, and the same for every subscription."""
    return f"evt_{run_id}_{seq}"


def receipt_event_id(seq: int) -> str:
    return f"rcpt_{seq}"


def body_text(event_id: str, kind: str, created_at: str, data: Mapping[str, Any]) -> str:
    """The JSON a receiver gets: compact, the bytes that are signed."""
    return jsontext.dumps({"id": event_id, "type": kind, "created_at": created_at, "data": data})


def run_event_data(
    run_id: str, seq: int, variant: str, fields: Mapping[str, Any]
) -> dict[str, Any]:
    """A run event's ``data``: its stored (redacted) fields, with the run and its place."""
    return {**fields, "run_id": run_id, "seq": seq, "variant": variant}
