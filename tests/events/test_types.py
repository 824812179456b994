from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any

import pytest

from fabro.events import agent as a
from fabro.events.types import (
    FABRO_EVENT_VARIANTS,
    RUN_EVENT_TYPES,
    CheckpointSaved,
    FailureDetail,
    RunCancelled,
    RunEvent,
    StageCompleted,
    StageStarted,
    StageUsage,
    event_from_json,
    is_terminal,
)
from tests.events.samples import (
    AGENT_SAMPLES,
    ALL_SAMPLES,
    RUN_ID,
    SAMPLES,
    STAGE_COMPLETED_FULL,
    STAGE_COMPLETED_MINIMAL,
)
from tests.events.spec_tables import run_event_table
from tests.shared_dir import needs_shared


def _id(event: object) -> str:
    return type(event).__name__


@pytest.mark.parametrize("event", ALL_SAMPLES, ids=_id)
def test_round_trip_through_json_text(event: RunEvent) -> None:
    encoded = json.dumps(event.to_json())
    assert event_from_json(json.loads(encoded)) == event
    assert RunEvent.from_json(json.loads(encoded)) == event


@pytest.mark.parametrize("event", ALL_SAMPLES, ids=_id)
def test_to_json_is_tagged_by_variant(event: RunEvent) -> None:
    (tag,) = event.to_json()
    assert tag == event.variant == type(event).variant


@pytest.mark.parametrize("event", ALL_SAMPLES, ids=_id)
def test_events_are_frozen_and_hashable(event: RunEvent) -> None:
    hash(event)
    field = dataclasses.fields(event)[0].name  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(event, field, "x")


def test_samples_cover_every_variant() -> None:
    assert {type(e).variant for e in SAMPLES} == set(RUN_EVENT_TYPES)
    assert {type(e) for e in AGENT_SAMPLES} == set(a.AGENT_EVENT_TYPES.values())


@needs_shared
def test_every_spec_variant_is_implemented_and_nothing_else() -> None:
    spec_variants = [v for v in RUN_EVENT_TYPES if v not in FABRO_EVENT_VARIANTS]
    assert spec_variants == list(run_event_table())


@needs_shared
@pytest.mark.parametrize("variant", list(run_event_table()))
def test_fields_match_the_spec_table(variant: str) -> None:
    cls = RUN_EVENT_TYPES[variant]
    hints = typing.get_type_hints(cls)
    spec = run_event_table()[variant]
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    assert [f.name for f in fields] == [f.name for f in spec]
    for field, spec_field in zip(fields, spec, strict=True):
        nullable = isinstance(hints[field.name], types.UnionType) and type(None) in typing.get_args(
            hints[field.name]
        )
        if spec_field.optional:
            assert field.default is None, field.name
        else:
            assert field.default is dataclasses.MISSING, field.name
            assert nullable == spec_field.nullable, field.name


@pytest.mark.parametrize(
    "text",
    [
        # The examples of api.md §6.8, verbatim.
        '{"StageStarted":{"node_id":"plan","name":"Plan","index":1,"handler_type":"agent",'
        '"attempt":1,"max_attempts":4}}',
        '{"Prompt":{"stage":"plan","text":"Goal: Add a /health endpoint\\n\\nPlan the change."}}',
        '{"StageCompleted": {"node_id": "plan", "name": "Plan", "index": 1, "duration_ms": 12403,'
        ' "status": "success", "preferred_label": null, "suggested_next_ids": [], "usage":'
        ' {"model": "claude-sonnet-4-5", "input_tokens": 1200, "output_tokens": 340,'
        ' "cost": 0.0087},'
        ' "notes": "Stage completed: plan", "files_touched": [], "attempt": 1, "max_attempts": 4}}',
        '{"WorkflowRunFailed": {"error": {"type": "engine", "data": {"message": "stage validate'
        ' failed with no outgoing fail edge", "failure_class": "deterministic"}}, "duration_ms":'
        " 45012}}",
        '{"RunResumed": {"run_id": "01JP3XKD8Y4V6T2M9Q0R5S7W1Z", "reason": "recovery"}}',
        '{"Agent": {"stage": "plan", "event": "SessionStarted"}}',
    ],
)
def test_spec_examples_round_trip_exactly(text: str) -> None:
    data = json.loads(text)
    assert event_from_json(data).to_json() == data


def test_sse_example_serialises_compactly_as_in_the_spec() -> None:
    event = StageStarted(
        node_id="plan", name="Plan", index=1, handler_type="agent", attempt=1, max_attempts=4
    )
    assert json.dumps(event.to_json(), separators=(",", ":")) == (
        '{"StageStarted":{"node_id":"plan","name":"Plan","index":1,"handler_type":"agent",'
        '"attempt":1,"max_attempts":4}}'
    )


def test_optional_fields_are_omitted_and_nullable_fields_kept() -> None:
    started = StageStarted(
        node_id="s", name="S", index=0, handler_type=None, attempt=1, max_attempts=1
    ).to_json()["StageStarted"]
    assert "script" not in started
    assert started["handler_type"] is None
    completed = STAGE_COMPLETED_MINIMAL.to_json()["StageCompleted"]
    assert "failure" not in completed
    assert completed["usage"] is None
    assert completed["preferred_label"] is None
    assert completed["notes"] is None
    assert completed["suggested_next_ids"] == []
    assert RunCancelled(run_id=RUN_ID).to_json() == {"RunCancelled": {"run_id": RUN_ID}}
    usage = StageUsage(model="m", input_tokens=1, output_tokens=2).to_json()
    assert usage == {"model": "m", "input_tokens": 1, "output_tokens": 2}


def test_json_keys_follow_the_spec_order() -> None:
    event = StageStarted(
        node_id="s", name="S", index=0, handler_type=None, script="x", attempt=1, max_attempts=1
    )
    assert list(event.to_json()["StageStarted"]) == [
        "node_id",
        "name",
        "index",
        "handler_type",
        "script",
        "attempt",
        "max_attempts",
    ]


def test_tuples_decode_from_lists() -> None:
    data = STAGE_COMPLETED_FULL.to_json()
    assert data["StageCompleted"]["files_touched"] == ["src/app.py"]
    event = event_from_json(data)
    assert isinstance(event, StageCompleted)
    assert event.files_touched == ("src/app.py",)
    assert isinstance(event.usage, StageUsage)
    assert isinstance(event.failure, FailureDetail)


def test_unknown_fields_are_ignored() -> None:
    data = {"CheckpointSaved": {"node_id": "a", "added_later": 1}}
    assert event_from_json(data) == CheckpointSaved(node_id="a")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"Nope": {}}, "Unknown run event variant 'Nope'"),
        ({}, "exactly one key"),
        ({"RunPaused": {"run_id": "x"}, "RunQueued": {}}, "exactly one key"),
        ([], "exactly one key"),
        ("RunPaused", "missing field 'run_id'"),
        ({"RunPaused": {}}, "missing field 'run_id'"),
        ({"RunPaused": []}, "expected an object"),
        (
            {"StageFailed": {"node_id": "a", "name": "A", "index": 0, "will_retry": False}},
            "failure",
        ),
        ({"RunResumed": {"run_id": "x", "reason": "whim"}}, "reason must be one of"),
        (
            {"ParallelEarlyTermination": {"reason": "x", "completed_count": 0, "pending_count": 0}},
            "reason must be one of",
        ),
        ({"Agent": {"stage": "s", "event": "Bogus"}}, "Unknown AgentEvent variant 'Bogus'"),
    ],
)
def test_invalid_json_is_rejected_with_a_clear_message(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        event_from_json(data)


@pytest.mark.parametrize("event", SAMPLES, ids=_id)
def test_is_terminal(event: RunEvent) -> None:
    terminal = type(event).variant in {"WorkflowRunCompleted", "WorkflowRunFailed", "RunCancelled"}
    assert is_terminal(event) is terminal
    # A manager child's completion appears in the stream but does not end the run.
    assert is_terminal(event, child_depth=1) is False
