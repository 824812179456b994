"""What a stage produces (workflow-language.md §13) and the errors handlers may raise."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeGuard, get_args

from fabro.engine.failure import effective_class
from fabro.events.types import FailureDetail, StageUsage

Status = Literal["success", "fail", "partial_success", "retry", "skipped"]
STATUSES: tuple[Status, ...] = get_args(Status)
SUCCESSFUL: frozenset[Status] = frozenset({"success", "partial_success"})


def is_status(value: object) -> TypeGuard[Status]:
    """Whether ``value`` (read from a status file or a directive) names a stage status."""
    return value in STATUSES


@dataclass(frozen=True)
class Outcome:
    status: Status
    preferred_label: str | None = None
    suggested_next_ids: list[str] = field(default_factory=list)
    context_updates: dict[str, Any] = field(default_factory=dict)
    notes: str | None = None
    failure: FailureDetail | None = None
    usage: StageUsage | None = None
    files_touched: list[str] = field(default_factory=list)
    jump_to_node: str | None = None
    duration_ms: int | None = None

    @classmethod
    def success(cls, notes: str | None = None, **extra: Any) -> Outcome:
        return cls("success", notes=notes, **extra)

    @classmethod
    def fail(cls, message: str, failure_class: str = "", **extra: Any) -> Outcome:
        """A failed outcome; without a class, the class is derived from the message (§12.7)."""
        return cls("fail", failure=_failure(message, failure_class), **extra)

    @classmethod
    def retry(cls, message: str, failure_class: str = "", **extra: Any) -> Outcome:
        return cls("retry", failure=_failure(message, failure_class), **extra)

    @property
    def failure_message(self) -> str:
        return self.failure.message if self.failure else ""

    def with_(self, **changes: Any) -> Outcome:
        """A copy with ``changes``."""
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """Outcome JSON with empty and absent fields omitted."""
        data: dict[str, Any] = {"status": self.status}
        if self.preferred_label:
            data["preferred_label"] = self.preferred_label
        if self.suggested_next_ids:
            data["suggested_next_ids"] = list(self.suggested_next_ids)
        if self.context_updates:
            data["context_updates"] = dict(self.context_updates)
        if self.notes:
            data["notes"] = self.notes
        if self.failure:
            data["failure"] = self.failure.to_json()
        if self.usage:
            data["usage"] = self.usage.to_json()
        if self.files_touched:
            data["files_touched"] = list(self.files_touched)
        if self.jump_to_node:
            data["jump_to_node"] = self.jump_to_node
        if self.duration_ms is not None:
            data["duration_ms"] = self.duration_ms
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Outcome:
        return cls(
            status=data["status"],
            preferred_label=data.get("preferred_label"),
            suggested_next_ids=list(data.get("suggested_next_ids", [])),
            context_updates=dict(data.get("context_updates", {})),
            notes=data.get("notes"),
            failure=FailureDetail.from_json(data["failure"]) if "failure" in data else None,
            usage=StageUsage.from_json(data["usage"]) if "usage" in data else None,
            files_touched=list(data.get("files_touched", [])),
            jump_to_node=data.get("jump_to_node"),
            duration_ms=data.get("duration_ms"),
        )


def _failure(message: str, failure_class: str) -> FailureDetail:
    """An explicit class (read leniently) if given, else the class derived from the message."""
    return FailureDetail(message=message, failure_class=effective_class(failure_class, message))


class StageError(Exception):
    """An error raised by a handler. Retryable errors are retried while attempts remain."""

    retryable: bool = True

    def __init__(
        self,
        message: str,
        failure_class: str | None = None,
        context_updates: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.failure_class = failure_class
        # Kept on the fail outcome when the error ends the stage (a command timeout still
        # sets its context keys, engine.md §9.3 step 7).
        self.context_updates = dict(context_updates or {})

    def outcome(self) -> Outcome:
        """The `fail` outcome this error becomes when it is not (or no longer) retried."""
        return Outcome.fail(
            self.message, self.failure_class or "", context_updates=self.context_updates
        )


class RetryableError(StageError):
    retryable = True


class PermanentError(StageError):
    """Parse, validation and stylesheet errors: never retried (§12.2)."""

    retryable = False
