from __future__ import annotations

from typing import Any

import pytest

from fabro.events.payloads import FAILURE_CLASSES, FabroErrorPayload, FailureDetail, StageUsage


def test_stage_usage_omits_absent_optional_counts() -> None:
    usage = StageUsage(model="m", input_tokens=1, output_tokens=2)
    assert usage.to_json() == {"model": "m", "input_tokens": 1, "output_tokens": 2}
    full = StageUsage(
        model="m",
        input_tokens=1,
        output_tokens=2,
        cache_read_tokens=0,
        cache_write_tokens=0,
        reasoning_tokens=0,
        cost=0.0,
    )
    assert StageUsage.from_json(full.to_json()) == full
    assert full.to_json()["cost"] == 0.0  # zero is a value, not absence


@pytest.mark.parametrize("failure_class", sorted(FAILURE_CLASSES))
def test_failure_detail_accepts_every_failure_class(failure_class: str) -> None:
    detail = FailureDetail(message="m", failure_class=failure_class)
    assert FailureDetail.from_json(detail.to_json()) == detail


def test_failure_detail_rejects_unknown_class() -> None:
    with pytest.raises(ValueError, match="failure_class"):
        FailureDetail(message="m", failure_class="cosmic_ray")


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            FabroErrorPayload(kind="engine", message="m", failure_class="deterministic"),
            {"type": "engine", "data": {"message": "m", "failure_class": "deterministic"}},
        ),
        (
            FabroErrorPayload(kind="handler", message="m", failure_class="transient_infra"),
            {"type": "handler", "data": {"message": "m", "failure_class": "transient_infra"}},
        ),
        *(
            (FabroErrorPayload(kind=kind, message="m"), {"type": kind, "data": "m"})
            for kind in ("parse", "validation", "llm", "checkpoint", "stylesheet", "io")
        ),
        (FabroErrorPayload(kind="cancelled"), {"type": "cancelled"}),
    ],
    ids=lambda v: v.kind if isinstance(v, FabroErrorPayload) else "",
)
def test_fabro_error_payload_shapes(payload: FabroErrorPayload, expected: dict[str, Any]) -> None:
    assert payload.to_json() == expected
    assert FabroErrorPayload.from_json(expected) == payload


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "weird", "message": "m"},
        {"kind": "engine", "message": "m"},
        {"kind": "engine", "message": "m", "failure_class": "nope"},
        {"kind": "engine", "failure_class": "deterministic"},
        {"kind": "io"},
        {"kind": "io", "message": "m", "failure_class": "deterministic"},
        {"kind": "cancelled", "message": "m"},
    ],
)
def test_fabro_error_payload_rejects_wrong_shapes(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        FabroErrorPayload(**kwargs)


@pytest.mark.parametrize(
    "data",
    [
        None,
        {"data": "m"},
        {"type": "engine", "data": "m"},
        {"type": "io", "data": {"message": "m"}},
        {"type": "io"},
    ],
)
def test_fabro_error_payload_from_json_rejects_wrong_shapes(data: Any) -> None:
    with pytest.raises(ValueError):
        FabroErrorPayload.from_json(data)
