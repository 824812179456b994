"""Payload types shared by run events: FailureDetail, StageUsage and the FabroError payload."""

from __future__ import annotations

from dataclasses import dataclass

from fabro.events.tagged import Json, JsonObject, decode_fields, encode_fields

FAILURE_CLASSES = frozenset(
    {
        "transient_infra",
        "deterministic",
        "budget_exhausted",
        "compilation_loop",
        "canceled",
        "structural",
    }
)

# FabroError payload types, by the shape of their ``data``.
ERROR_TYPES_WITH_CLASS = frozenset({"engine", "handler"})
ERROR_TYPES_WITH_MESSAGE = frozenset(
    {"parse", "validation", "llm", "checkpoint", "stylesheet", "io"}
)
ERROR_TYPES = ERROR_TYPES_WITH_CLASS | ERROR_TYPES_WITH_MESSAGE | {"cancelled"}


def check_one_of(what: str, value: str, allowed: frozenset[str]) -> None:
    """Raise ValueError unless ``value`` is one of the allowed enum values."""
    if value not in allowed:
        raise ValueError(f"{what} must be one of {sorted(allowed)}, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class FailureDetail:
    """Why a stage failed: ``{message, failure_class, failure_signature?}``."""

    message: str
    failure_class: str
    failure_signature: str | None = None

    def __post_init__(self) -> None:
        check_one_of("failure_class", self.failure_class, FAILURE_CLASSES)

    def to_json(self) -> JsonObject:
        return encode_fields(self)

    @classmethod
    def from_json(cls, data: Json) -> FailureDetail:
        return decode_fields(cls, data)


@dataclass(frozen=True, kw_only=True)
class StageUsage:
    """Token usage and cost of one stage, summed over its model calls."""

    model: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost: float | None = None

    def to_json(self) -> JsonObject:
        return encode_fields(self)

    @classmethod
    def from_json(cls, data: Json) -> StageUsage:
        return decode_fields(cls, data)


@dataclass(frozen=True, kw_only=True)
class FabroErrorPayload:
    """The FabroError of ``WorkflowRunFailed``: ``{"type": T, "data": D}``.

    ``engine`` and ``handler`` carry a message and a failure class, ``cancelled`` carries nothing,
    the other types carry only a message (sent as the bare string ``data``).
    """

    kind: str  # the JSON "type"; renamed so it does not shadow the builtin
    message: str | None = None
    failure_class: str | None = None

    def __post_init__(self) -> None:
        check_one_of("FabroError type", self.kind, ERROR_TYPES)
        if self.kind == "cancelled":
            if self.message is not None or self.failure_class is not None:
                raise ValueError("FabroError 'cancelled' carries no data")
            return
        if self.message is None:
            raise ValueError(f"FabroError {self.kind!r} needs a message")
        if self.kind in ERROR_TYPES_WITH_CLASS:
            check_one_of("failure_class", self.failure_class or "", FAILURE_CLASSES)
        elif self.failure_class is not None:
            raise ValueError(f"FabroError {self.kind!r} carries no failure_class")

    def to_json(self) -> JsonObject:
        if self.kind == "cancelled":
            return {"type": "cancelled"}
        if self.kind in ERROR_TYPES_WITH_CLASS:
            data = {"message": self.message, "failure_class": self.failure_class}
            return {"type": self.kind, "data": data}
        return {"type": self.kind, "data": self.message}

    @classmethod
    def from_json(cls, data: Json) -> FabroErrorPayload:
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            raise ValueError("FabroError must be an object with a string 'type'")
        kind = data["type"]
        if kind == "cancelled":
            return cls(kind=kind)
        body = data.get("data")
        if kind in ERROR_TYPES_WITH_CLASS:
            if not isinstance(body, dict):
                raise ValueError(f"FabroError {kind!r}: 'data' must be an object")
            return cls(
                kind=kind, message=body.get("message"), failure_class=body.get("failure_class")
            )
        if not isinstance(body, str):
            raise ValueError(f"FabroError {kind!r}: 'data' must be a string")
        return cls(kind=kind, message=body)
