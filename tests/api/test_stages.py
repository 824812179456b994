"""Stages, turns, usage, retro and aggregate usage (api.md §6.12-§6.15, §8) on real runs."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import msgspec
import pytest
from quart.typing import TestClientProtocol as Client

from fabro.api.stages import retro, run_usage, stage_status
from fabro.clock import now_ts
from fabro.engine.questions import Answer
from fabro.services import Services
from fabro.storage import stages
from fabro.storage.records import RunRecord
from fabro.storage.stages import StageFinish, StageRecord
from fabro.storage.writer import WriteTx
from fabro.workflow.model import Graph
from tests.api.envelope import assert_envelope
from tests.api.internals_helpers import (
    FAILING,
    GATED,
    SLOW,
    cancel,
    command_running,
    create,
    finished,
    question,
    wait_status,
)
from tests.api.runs_helpers import LINEAR

EMPTY_USAGE = {
    "stages": [],
    "totals": {"runtime_secs": 0.0, "input_tokens": 0, "output_tokens": 0, "cost": 0.0},
    "by_model": [],
}


async def get(client: Client, headers: dict[str, str], path: str) -> tuple[int, Any]:
    response = await client.get(path, headers=headers)
    return response.status_code, await response.get_json()


async def stage_list(client: Client, headers: dict[str, str], run_id: str) -> list[Any]:
    status, page = await get(client, headers, f"/runs/{run_id}/stages")
    assert status == 200 and page["meta"] == {"has_more": False}
    data: list[Any] = page["data"]
    return data


def without_durations(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for item in items:
        if "duration_secs" in item:
            assert isinstance(item["duration_secs"], float) and item["duration_secs"] >= 0
    return [{k: v for k, v in item.items() if k != "duration_secs"} for item in items]


async def add_llm_stage(services: Services, run: RunRecord, **finish: Any) -> None:
    """Store one more finished LLM stage with real token counts on ``run`` (the simulated
    backend reports zero tokens)."""
    ts = now_ts()
    ordinal_row = await services.db.fetchone(
        "SELECT COUNT(*) FROM stages WHERE run_id = ?", [run.id]
    )
    index = int(ordinal_row[0]) if ordinal_row else 0
    record = StageRecord(run.id, "review", "review", "Review", 1, index, "running", ts)
    values: dict[str, Any] = {
        "status": "completed",
        "finished_at": ts,
        "duration_ms": 12_400,
        "attempts": 2,
        "outcome": {
            "status": "success",
            "notes": "Stage completed: review",
            "files_touched": ["src/b.py", "src/a.py"],
        },
        "model": "claude-sonnet-4-5",
        "usage": {"input_tokens": 1200, "output_tokens": 340},
        "cost": 0.0087,
    }
    values.update(finish)

    def write(tx: WriteTx) -> None:
        stages.start_stage(tx, record)
        stages.finish_stage(tx, run.id, "review", StageFinish(**values))

    await services.db.write(write)


@pytest.mark.parametrize(
    "path",
    ["stages", "stages/start/turns", "usage", "retro"],
)
async def test_unknown_run_is_404(client: Client, auth_headers: dict[str, str], path: str) -> None:
    status, body = await get(client, auth_headers, f"/runs/NOPE/{path}")
    assert status == 404
    assert_envelope(body, 404, "Run not found.")


async def test_bad_page_parameters_are_400_before_the_lookup(
    client: Client, auth_headers: dict[str, str]
) -> None:
    for path in ("stages?page[limit]=x", "stages/a/turns?page[offset]=-3"):
        status, body = await get(client, auth_headers, f"/runs/NOPE/{path}")
        assert status == 400
        assert_envelope(body, 400)


# ---- stages ----------------------------------------------------------------------------------


async def test_stages_of_a_completed_run(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    run = await finished(services, LINEAR)
    items = await stage_list(client, auth_headers, run.id)
    assert without_durations(items) == [
        {"id": "start", "name": "start", "status": "completed", "dot_id": "start"},
        {"id": "work", "name": "Work", "status": "completed", "dot_id": "work"},
        {"id": "exit", "name": "exit", "status": "completed", "dot_id": "exit"},
    ]
    assert all("duration_secs" in item for item in items)
    assert items[2]["duration_secs"] == 0.0
    status, page = await get(client, auth_headers, f"/runs/{run.id}/stages?page[limit]=2")
    assert [s["id"] for s in page["data"]] == ["start", "work"] and page["meta"]["has_more"]
    status, page = await get(client, auth_headers, f"/runs/{run.id}/stages?page[offset]=2")
    assert status == 200
    assert [s["id"] for s in page["data"]] == ["exit"] and not page["meta"]["has_more"]


async def test_stages_of_a_queued_run_are_empty(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    services.runs.max_concurrent_runs = 0
    run = await create(services, LINEAR)
    assert await stage_list(client, auth_headers, run.id) == []


async def test_running_stage_then_pending_stage_while_paused_and_held(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    run = await create(services, GATED)
    asked = await question(services, run.id)
    items = await stage_list(client, auth_headers, run.id)
    assert without_durations(items) == [
        {"id": "start", "name": "start", "status": "completed", "dot_id": "start"},
        {"id": "approve", "name": "Approve Plan", "status": "running", "dot_id": "approve"},
    ]
    assert "duration_secs" not in items[1]  # still running

    await services.runs.pause(run.id)
    await services.runs.desk.answer(run.id, asked.qid, Answer(selected_option_key="A"), "alice")
    for _ in range(1000):  # the gate finishes; the engine then holds before `done`
        items = await stage_list(client, auth_headers, run.id)
        if items[-1]["status"] == "pending":
            break
        await asyncio.sleep(0.02)
    assert without_durations(items) == [
        {"id": "start", "name": "start", "status": "completed", "dot_id": "start"},
        {"id": "approve", "name": "Approve Plan", "status": "completed", "dot_id": "approve"},
        {"id": "done", "name": "Done", "status": "pending", "dot_id": "done"},
    ]
    assert "duration_secs" not in items[2]
    svg = await (await client.get(f"/runs/{run.id}/graph", headers=auth_headers)).get_data(
        as_text=True
    )
    assert 'fill="#f2f4f7"' in svg and 'fill="#fef0c7"' not in svg
    status, turns = await get(client, auth_headers, f"/runs/{run.id}/stages/done/turns")
    assert (status, turns["data"]) == (200, [])

    await services.runs.unpause(run.id)
    await wait_status(services, run.id, {"completed"})
    items = await stage_list(client, auth_headers, run.id)
    assert [(s["id"], s["status"]) for s in items] == [
        ("start", "completed"),
        ("approve", "completed"),
        ("done", "completed"),
        ("exit", "completed"),
    ]


async def test_failed_and_cancelled_stages(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    failed = await finished(services, FAILING)
    assert failed.status == "failed"
    assert [(s["id"], s["status"]) for s in await stage_list(client, auth_headers, failed.id)] == [
        ("start", "completed"),
        ("boom", "failed"),
    ]

    slow = await create(services, SLOW)
    await command_running(services, slow.id)
    await cancel(services, slow.id)
    items = await stage_list(client, auth_headers, slow.id)
    assert [(s["id"], s["status"]) for s in items] == [
        ("start", "completed"),
        ("wait", "cancelled"),
    ]
    assert items[1]["duration_secs"] > 0  # from the timestamps the cancel wrote


async def test_a_stage_left_running_by_a_failed_run_is_failed(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    run = await create(services, SLOW)
    await command_running(services, run.id)
    # The manager's path for an unexpected engine error fails the run and closes its rows.
    await services.runs.lifecycle.fail(run.id, "internal error: Boom")
    rows = await stages.list_stages(services.db, run.id)
    assert rows[-1].status == "failed"
    items = await stage_list(client, auth_headers, run.id)
    assert [(s["id"], s["status"]) for s in items] == [("start", "completed"), ("wait", "failed")]
    assert items[1]["duration_secs"] >= 0  # from its start and the moment the run failed


# ---- turns -----------------------------------------------------------------------------------


async def test_turns_of_an_agent_stage(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    run = await finished(services, LINEAR)
    status, page = await get(client, auth_headers, f"/runs/{run.id}/stages/work/turns")
    assert status == 200 and page["meta"] == {"has_more": False}
    system, assistant = page["data"]
    assert set(system) == {"kind", "content"} and system["kind"] == "system"
    assert system["content"].startswith("Goal: Say hello") and system["content"].endswith(
        "Do Say hello"
    )
    assert assistant == {"kind": "assistant", "content": "[Simulated] Response for stage: work"}
    status, page = await get(
        client, auth_headers, f"/runs/{run.id}/stages/work/turns?page[limit]=1"
    )
    assert page["data"] == [system] and page["meta"] == {"has_more": True}
    for other in ("start", "exit"):
        assert await get(client, auth_headers, f"/runs/{run.id}/stages/{other}/turns") == (
            200,
            {"data": [], "meta": {"has_more": False}},
        )
    status, body = await get(client, auth_headers, f"/runs/{run.id}/stages/nope/turns")
    assert status == 404
    assert_envelope(body, 404, "Stage not found.")


async def test_tool_turns_keep_their_tool_uses(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    run = await finished(services, LINEAR)
    tool = {
        "id": "toolu_01",
        "tool_name": "list_files",
        "input": '{"path": "."}',
        "result": "src/",
        "is_error": False,
        "duration_ms": 3,
    }

    def write(tx: WriteTx) -> None:
        for content, tools in [("Looking.", [tool]), (None, [tool])]:  # turns 3 and 4
            stages.append_turn(tx, run.id, "work", "tool", now_ts(), content, tools)

    await services.db.write(write)
    status, page = await get(client, auth_headers, f"/runs/{run.id}/stages/work/turns")
    assert status == 200
    assert page["data"][2:] == [
        {"kind": "tool", "content": "Looking.", "tools": [tool]},
        {"kind": "tool", "tools": [tool]},
    ]


# ---- usage -----------------------------------------------------------------------------------


async def test_usage_of_runs(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    gated = await create(services, GATED)
    await question(services, gated.id)
    assert await get(client, auth_headers, f"/runs/{gated.id}/usage") == (200, EMPTY_USAGE)

    run = await finished(services, LINEAR)
    status, usage = await get(client, auth_headers, f"/runs/{run.id}/usage")
    assert status == 200
    (work,) = usage["stages"]
    assert work["stage"] == {"id": "work", "name": "Work"}
    assert work["model"] == {"id": "claude-opus-4-6"}
    assert work["usage"] == {"input_tokens": 0, "output_tokens": 0, "cost": 0.0}

    await add_llm_stage(services, run)
    status, usage = await get(client, auth_headers, f"/runs/{run.id}/usage")
    runtime = work["runtime_secs"] + 12.4
    assert usage["stages"][1] == {
        "stage": {"id": "review", "name": "Review"},
        "model": {"id": "claude-sonnet-4-5"},
        "usage": {"input_tokens": 1200, "output_tokens": 340, "cost": 0.0087},
        "runtime_secs": 12.4,
    }
    assert usage["totals"] == {
        "runtime_secs": pytest.approx(runtime),
        "input_tokens": 1200,
        "output_tokens": 340,
        "cost": 0.0087,
    }
    assert usage["by_model"] == [
        {
            "model": {"id": "claude-opus-4-6"},
            "stages": 1,
            "usage": {"input_tokens": 0, "output_tokens": 0, "cost": 0.0},
        },
        {
            "model": {"id": "claude-sonnet-4-5"},
            "stages": 1,
            "usage": {"input_tokens": 1200, "output_tokens": 340, "cost": 0.0087},
        },
    ]
    await services.runs.cancel(gated.id)


async def test_aggregate_usage(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    assert await get(client, auth_headers, "/usage") == (
        200,
        {
            "totals": {
                "runs": 0,
                "input_tokens": 0,
                "output_tokens": 0,
                "cost": 0.0,
                "runtime_secs": 0.0,
            },
            "by_model": [],
        },
    )
    first = await finished(services, LINEAR)
    second = await finished(services, LINEAR)
    await add_llm_stage(services, first)
    await add_llm_stage(services, second, usage={"input_tokens": 800, "output_tokens": 60})
    services.runs.max_concurrent_runs = 0
    await create(services, LINEAR)  # queued: not counted
    status, usage = await get(client, auth_headers, "/usage")
    assert status == 200
    assert usage["totals"]["runs"] == 2
    assert usage["totals"]["input_tokens"] == 2000 and usage["totals"]["output_tokens"] == 400
    assert usage["totals"]["cost"] == 0.0174
    assert usage["totals"]["runtime_secs"] >= 24.8
    assert [m["model"]["id"] for m in usage["by_model"]] == ["claude-opus-4-6", "claude-sonnet-4-5"]
    assert usage["by_model"][0]["stages"] == 2
    assert usage["by_model"][1] == {
        "model": {"id": "claude-sonnet-4-5"},
        "stages": 2,
        "usage": {"input_tokens": 2000, "output_tokens": 400, "cost": 0.0174},
    }


# ---- retro -----------------------------------------------------------------------------------


async def test_retro_is_null_until_terminal(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    run = await create(services, GATED)
    asked = await question(services, run.id)
    response = await client.get(f"/runs/{run.id}/retro", headers=auth_headers)
    assert response.status_code == 200 and await response.get_data(as_text=True) == "null\n"
    await services.runs.desk.answer(run.id, asked.qid, Answer(selected_option_key="R"), "alice")
    await wait_status(services, run.id, {"completed"})
    status, body = await get(client, auth_headers, f"/runs/{run.id}/retro")
    assert status == 200
    assert [s["stage_id"] for s in body["stages"]] == ["start", "approve"]


async def test_retro_of_a_completed_run(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    run = await finished(services, LINEAR)
    await add_llm_stage(services, run)
    status, body = await get(client, auth_headers, f"/runs/{run.id}/retro")
    assert status == 200
    assert body["run_id"] == run.id and body["workflow_name"] == "Linear"
    assert body["goal"] == "Say hello" and body["timestamp"] == run.finished_at
    start, work, review = body["stages"]  # the exit stage is left out
    assert start == {
        "stage_id": "start",
        "stage_label": "start",
        "status": "success",
        "duration_ms": 0,
        "retries": 0,
        "files_touched": [],
    }
    assert work["status"] == "success" and work["notes"] == "Stage completed: work"
    assert review == {
        "stage_id": "review",
        "stage_label": "Review",
        "status": "success",
        "duration_ms": 12_400,
        "retries": 1,
        "cost": 0.0087,
        "notes": "Stage completed: review",
        "files_touched": ["src/b.py", "src/a.py"],
    }
    stats = body["stats"]
    assert stats["total_cost"] == 0.0087 and stats["total_retries"] == 1
    assert stats["files_touched"] == ["src/a.py", "src/b.py"]
    assert stats["stages_completed"] == 3 and stats["stages_failed"] == 0
    assert isinstance(stats["total_duration_ms"], int) and stats["total_duration_ms"] >= 0


async def test_retro_of_a_failed_run(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    run = await finished(services, FAILING)
    status, body = await get(client, auth_headers, f"/runs/{run.id}/retro")
    assert status == 200
    boom = body["stages"][1]
    assert boom["status"] == "fail" and boom["retries"] == 0
    assert boom["failure_reason"].startswith("Script failed with exit code: 3")
    assert "notes" not in boom and "cost" not in boom
    assert body["stats"]["stages_failed"] == 1 and body["stats"]["stages_completed"] == 1
    assert "total_cost" not in body["stats"]


# ---- the pure views --------------------------------------------------------------------------

TS = "2026-03-12T10:15:00.000Z"
RUN = RunRecord(
    id="R",
    status="running",
    title="t",
    graph_name="G",
    dot_source="",
    prepared_graph=Graph(name="G").to_json(),
    created_at=TS,
    updated_at=TS,
)


@pytest.mark.parametrize(
    ("row", "run_status", "expected"),
    [
        ("completed", "running", "completed"),
        ("failed", "completed", "failed"),
        ("cancelled", "cancelled", "cancelled"),
        ("running", "running", "running"),
        ("running", "paused", "running"),
        ("running", "failed", "failed"),
        ("running", "cancelled", "cancelled"),
        ("running", "completed", "cancelled"),
    ],
)
def test_stage_status_table(row: str, run_status: str, expected: str) -> None:
    stage = StageRecord("R", "s", "s", "S", 1, 0, row, TS)
    assert stage_status(stage, replace(RUN, status=run_status)) == expected  # type: ignore[arg-type]


def test_run_usage_counts_unknown_costs_as_zero() -> None:
    priced = StageRecord(
        "R", "a", "a", "A", 1, 0, "completed", TS, duration_ms=1000, model="m2",
        input_tokens=10, output_tokens=5, cost=0.1,
    )  # fmt: skip
    unpriced = replace(priced, stage_id="b", name="B", model="m1", cost=None, duration_ms=500)
    unpriced_too = replace(priced, stage_id="c", name="C", cost=0.2)
    no_llm = replace(priced, stage_id="d", model=None)
    usage = msgspec.to_builtins(run_usage([priced, unpriced, unpriced_too, no_llm]))
    assert [s["stage"]["id"] for s in usage["stages"]] == ["a", "b", "c"]
    assert usage["totals"] == {
        "runtime_secs": 2.5,
        "input_tokens": 30,
        "output_tokens": 15,
        "cost": 0.3,
    }
    assert [(m["model"]["id"], m["stages"], m["usage"]["cost"]) for m in usage["by_model"]] == [
        ("m1", 1, 0.0),
        ("m2", 2, 0.3),
    ]
    assert msgspec.to_builtins(run_usage([])) == EMPTY_USAGE


def test_retro_counts_at_least_one_failure_for_a_failed_run() -> None:
    run = replace(RUN, status="failed", started_at=TS, finished_at="2026-03-12T10:15:02.500Z")
    ok = StageRecord(
        "R", "s", "s", "S", 1, 0, "completed", TS, attempts=3, duration_ms=7,
        outcome={"status": "partial_success"},
    )  # fmt: skip
    unfinished = replace(ok, stage_id="t", status="running", outcome=None)
    found = retro(run, [ok, unfinished])
    assert found is not None
    body = msgspec.to_builtins(found)
    assert body["stages"] == [
        {
            "stage_id": "s",
            "stage_label": "S",
            "status": "partial_success",
            "duration_ms": 7,
            "retries": 2,
            "files_touched": [],
        }
    ]
    assert body["stats"] == {
        "total_duration_ms": 2500,
        "total_retries": 2,
        "files_touched": [],
        "stages_completed": 1,
        "stages_failed": 1,
    }
    assert retro(RUN, [ok]) is None
