"""Bodies of webhooks (issue 19): subscriptions, the secret shown once, the delivery log."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from msgspec import UNSET, Meta

from fabro.api.bodies.common import Body, Opt, Page
from fabro.api.bodies.runs import LabelKey, LabelValue
from fabro.storage.webhooks import DeliveryRecord, WebhookRecord

WebhookEventType = Literal[
    "run.started",
    "run.waiting",
    "run.completed",
    "run.failed",
    "run.cancelled",
    "stage.failed",
    "policy.alert",
    "receipt.written",
]
EventTypes = Annotated[list[WebhookEventType], Meta(min_length=1, max_length=8)]
WebhookUrl = Annotated[str, Meta(min_length=1, max_length=2048)]
WorkflowSlug = Annotated[str, Meta(max_length=200)]
LabelFilter = Annotated[dict[LabelKey, LabelValue], Meta(max_length=20)]


class CreateWebhookRequest(Body):
    url: WebhookUrl
    event_types: EventTypes
    workflow: WorkflowSlug | None = None  # only runs of this registry workflow
    labels: LabelFilter | None = None  # only runs carrying every one of these labels

    SCHEMA_EXTRA: ClassVar[dict[str, Any]] = {
        "examples": [
            {
                "url": "https://hooks.example.com/fabro",
                "event_types": ["run.completed", "run.failed"],
                "labels": {"team": "web"},
            }
        ]
    }


class UpdateWebhookRequest(Body):
    """Fields given are changed; ``workflow: ""`` removes the workflow filter, ``labels: {}``
    the label filter; ``enabled: true`` enables a disabled subscription again."""

    url: Opt[WebhookUrl] = UNSET
    event_types: Opt[EventTypes] = UNSET
    workflow: Opt[WorkflowSlug] = UNSET
    labels: Opt[LabelFilter] = UNSET
    enabled: Opt[bool] = UNSET


class Webhook(Body):
    id: str
    url: str
    event_types: list[WebhookEventType]
    workflow: str | None
    labels: dict[str, str]
    enabled: bool
    disabled_reason: str | None  # why it was disabled (after failing, or by a user)
    failures_in_a_row: int
    created_by: str | None
    created_at: str
    updated_at: str

    @classmethod
    def from_record(cls, record: WebhookRecord) -> Webhook:
        return cls(
            id=record.id,
            url=record.url,
            event_types=list(record.event_types),  # type: ignore[arg-type]
            workflow=record.workflow,
            labels=record.labels,
            enabled=record.enabled,
            disabled_reason=record.disabled_reason,
            failures_in_a_row=record.failures_in_a_row,
            created_by=record.created_by,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


class CreatedWebhook(Webhook):
    """A new subscription with its signing secret: the only response that shows it."""

    secret: str


class PaginatedWebhookList(Page[Webhook]):
    pass


class WebhookDelivery(Body):
    id: str  # the Fabro-Delivery header: the same on every attempt and redelivery
    webhook_id: str
    event_id: str  # the body's "id"
    event_type: str  # one of the event types, or "ping"
    status: Literal["pending", "succeeded", "failed"]  # failed: retries given up
    attempts: int
    next_attempt_at: str | None
    response_code: int | None  # of the last attempt
    response_body: str | None  # of the last attempt, at most 1,024 characters kept
    error: str | None  # why the last attempt failed
    latency_ms: int | None
    created_at: str
    updated_at: str

    @classmethod
    def from_record(cls, record: DeliveryRecord) -> WebhookDelivery:
        return cls(
            id=record.id,
            webhook_id=record.webhook_id,
            event_id=record.event_id,
            event_type=record.event_type,
            status=record.status,  # type: ignore[arg-type]
            attempts=record.attempts,
            next_attempt_at=record.next_attempt_at,
            response_code=record.response_code,
            response_body=record.response_body,
            error=record.error,
            latency_ms=record.latency_ms,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


class PaginatedWebhookDeliveryList(Page[WebhookDelivery]):
    pass
