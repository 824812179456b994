"""Run internals (api.md §6.6, §6.7, §6.11, §6.16, §6.17) on runs executed by the real engine."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from fabro.api import internals
from fabro.config import LlmSettings
from fabro.engine.questions import Answer
from fabro.services import Services
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

SECRET = "sk-ant-" + "a1B2c3D4e5F6g7H8i9J0k"
COMPLETED = ('fill="#d1fadf"', 'stroke="#12b76a"')
RUNNING = ('fill="#fef0c7"', 'stroke="#f79009"')
FAILED = ('fill="#fee4e2"', 'stroke="#f04438"')
PENDING = ('fill="#f2f4f7"', 'stroke="#98a2b3"')


async def get(client: Client, headers: dict[str, str], path: str) -> tuple[int, Any]:
    response = await client.get(path, headers=headers)
    return response.status_code, await response.get_json()


def has(svg: str, colours: tuple[str, str]) -> bool:
    return all(colour in svg for colour in colours)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/runs/NOPE/graph"),
        ("GET", "/runs/NOPE/graph?format=png"),
        ("GET", "/runs/NOPE/checkpoint"),
        ("GET", "/runs/NOPE/context"),
        ("GET", "/runs/NOPE/configuration"),
        ("POST", "/runs/NOPE/steer"),
    ],
)
async def test_unknown_run_is_404(
    client: Client, auth_headers: dict[str, str], method: str, path: str
) -> None:
    response = await client.open(path, method=method, json={"guidance": "x"}, headers=auth_headers)
    assert response.status_code == 404
    assert_envelope(await response.get_json(), 404, "Run not found.")


# ---- graph -----------------------------------------------------------------------------------


async def test_graph_of_a_completed_run_is_svg_coloured_completed(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    run = await finished(services, LINEAR)
    response = await client.get(f"/runs/{run.id}/graph", headers=auth_headers)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/svg+xml"
    svg = await response.get_data(as_text=True)
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert ">Work</text>" in svg
    # start, work and the exit stage all completed; nothing is left pending.
    assert svg.count('fill="#d1fadf"') == 3 and has(svg, COMPLETED)
    assert not has(svg, PENDING) and not has(svg, RUNNING)


async def test_graph_as_png(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    run = await finished(services, LINEAR)
    response = await client.get(f"/runs/{run.id}/graph?format=png", headers=auth_headers)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert (await response.get_data(as_text=False)).startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize("fmt", ["gif", "SVG", "svg,png"])
async def test_graph_rejects_other_formats_before_the_run_lookup(
    client: Client, auth_headers: dict[str, str], fmt: str
) -> None:
    status, body = await get(client, auth_headers, f"/runs/NOPE/graph?format={fmt}")
    assert status == 400
    assert_envelope(body, 400, "Query parameter 'format' must be one of: svg, png.")


async def test_graph_colours_running_never_started_failed_and_cancelled(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    gated = await create(services, GATED)
    await question(services, gated.id)
    svg = await (await client.get(f"/runs/{gated.id}/graph", headers=auth_headers)).get_data(
        as_text=True
    )
    assert has(svg, COMPLETED) and has(svg, RUNNING) and has(svg, PENDING)
    assert 'style="filled,bold"' not in svg  # styles are Graphviz input, not SVG attributes
    assert not has(svg, FAILED)

    failed = await finished(services, FAILING)
    assert failed.status == "failed"
    svg = await (await client.get(f"/runs/{failed.id}/graph", headers=auth_headers)).get_data(
        as_text=True
    )
    assert has(svg, FAILED) and has(svg, COMPLETED) and has(svg, PENDING)  # exit never ran

    slow = await create(services, SLOW)
    await command_running(services, slow.id)
    await cancel(services, slow.id)
    svg = await (await client.get(f"/runs/{slow.id}/graph", headers=auth_headers)).get_data(
        as_text=True
    )
    assert has(svg, FAILED) and not has(svg, RUNNING)


def _fake_dot(folder: Path, body: str) -> None:
    """A `dot` on a PATH of its own; the tools it calls are named by absolute path."""
    folder.mkdir()
    script = folder / "dot"
    tools = {"cat": shutil.which("cat"), "sleep": shutil.which("sleep")}
    script.write_text("#!/bin/sh\n" + body.format(**tools) + "\n", encoding="utf-8")
    script.chmod(0o755)


@pytest.mark.parametrize(
    ("script", "detail"),
    [
        (None, "Graphviz dot command not available."),
        ("{cat} >/dev/null; echo 'Error: syntax error in line 1' >&2; exit 1", None),
        ("exec {sleep} 5", "Graphviz dot timed out after 0.3s."),
    ],
    ids=["missing", "failing", "timeout"],
)
async def test_graphviz_problems_are_502(
    client: Client,
    auth_headers: dict[str, str],
    services: Services,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    script: str | None,
    detail: str | None,
) -> None:
    run = await finished(services, LINEAR)
    bin_dir = tmp_path / "bin"
    if script is None:
        bin_dir.mkdir()
    else:
        _fake_dot(bin_dir, script)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(internals, "GRAPH_TIMEOUT_S", 0.3)
    status, body = await get(client, auth_headers, f"/runs/{run.id}/graph")
    assert status == 502
    assert_envelope(body, 502, detail or "dot failed: Error: syntax error in line 1")


# ---- checkpoint and context ------------------------------------------------------------------


async def test_queued_run_has_null_checkpoint_and_empty_context(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    services.runs.max_concurrent_runs = 0  # the scheduler admits nothing: the run stays queued
    run = await create(services, LINEAR)
    response = await client.get(f"/runs/{run.id}/checkpoint", headers=auth_headers)
    assert response.status_code == 200
    assert await response.get_data(as_text=True) == "null\n"
    assert await get(client, auth_headers, f"/runs/{run.id}/context") == (200, {})


async def test_checkpoint_and_context_of_a_finished_run_are_redacted(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    run = await finished(services, LINEAR, goal=f"Use {SECRET} please")
    status, checkpoint = await get(client, auth_headers, f"/runs/{run.id}/checkpoint")
    assert status == 200
    assert checkpoint["current_node"] == "work"
    assert checkpoint["completed_nodes"] == ["start", "work"]
    assert checkpoint["node_retries"] == {"start": 1, "work": 1}
    assert checkpoint["next_node_id"] == "exit"
    assert checkpoint["node_visits"] == {"start": 1, "work": 1}
    assert checkpoint["node_outcomes"]["work"]["notes"] == "Stage completed: work"
    assert checkpoint["timestamp"].endswith("Z") and checkpoint["logs"] == []
    values = checkpoint["context_values"]
    assert values["graph.goal"] == "Use [REDACTED] please"
    assert values["internal.run_id"] == run.id
    assert values["response.work"] == "[Simulated] Response for stage: work"
    assert SECRET not in str(checkpoint)
    # After the run, /context is the checkpoint's context.
    assert await get(client, auth_headers, f"/runs/{run.id}/context") == (200, values)


async def test_context_of_a_running_run_is_live_and_redacted(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    run = await create(services, GATED, goal=f"Ship it with {SECRET}")
    asked = await question(services, run.id)
    status, context = await get(client, auth_headers, f"/runs/{run.id}/context")
    assert status == 200
    assert context["internal.run_id"] == run.id
    assert context["graph.goal"] == "Ship it with [REDACTED]"
    assert context["current_node"] == "approve"  # the live context, not the checkpoint (start)
    status, checkpoint = await get(client, auth_headers, f"/runs/{run.id}/checkpoint")
    assert checkpoint["current_node"] == "start"
    await services.runs.desk.answer(run.id, asked.qid, Answer(selected_option_key="A"), "alice")
    await wait_status(services, run.id, {"completed"})


# ---- configuration ---------------------------------------------------------------------------


async def test_configuration_of_a_dot_source_run(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    run = await finished(services, LINEAR, title="Hello")
    work = services.settings.data_dir / "runs" / run.id / "work"
    assert await get(client, auth_headers, f"/runs/{run.id}/configuration") == (
        200,
        {
            "version": 1,
            "graph": "graph.dot",
            "goal": "Say hello",
            "directory": str(work.resolve()),
            "llm": {"model": "claude-opus-4-6", "provider": "anthropic"},
            "graph_name": "Linear",
            "labels": {},
            "title": "Hello",
            "dry_run": False,
        },
    )


async def test_configuration_of_a_registry_run(
    client: Client, auth_headers: dict[str, str], services: Services, tmp_path: Path
) -> None:
    services.runs.max_concurrent_runs = 0  # the configuration is known before the run starts
    folder = tmp_path / "wf"
    (folder / "src").mkdir(parents=True)
    run = await create(
        services,
        LINEAR,
        workflow_slug="wf",
        source_name="workflow.dot",
        vars={"repo": "api"},
        labels={"team": "web"},
        config={
            "directory": "src",
            "llm": {"model": "gpt-5.2"},
            "workflow_dir": str(folder),
        },
    )
    status, body = await get(client, auth_headers, f"/runs/{run.id}/configuration")
    assert status == 200
    assert body["graph"] == "workflow.dot"
    assert body["directory"] == str((folder / "src").resolve())
    assert body["llm"] == {"model": "gpt-5.2", "provider": "openai"}
    assert body["vars"] == {"repo": "api"} and body["labels"] == {"team": "web"}


@pytest.mark.parametrize(
    ("graph_attrs", "server", "llm"),
    [
        (', default_model="gpt-5.2"', LlmSettings(), {"model": "gpt-5.2", "provider": "openai"}),
        (
            ', default_model="gpt-5.2"',
            LlmSettings(model="claude-sonnet-4-5"),
            {"model": "claude-sonnet-4-5", "provider": "anthropic"},
        ),
        ("", LlmSettings(provider="openai"), {"model": "gpt-5.4", "provider": "openai"}),
    ],
)
async def test_configuration_llm_resolution(
    client: Client,
    auth_headers: dict[str, str],
    services: Services,
    graph_attrs: str,
    server: LlmSettings,
    llm: dict[str, str],
) -> None:
    services.runs.max_concurrent_runs = 0
    services.llm_settings = server
    dot = LINEAR.replace('graph [goal="Say hello"]', f'graph [goal="Say hello"{graph_attrs}]')
    run = await create(services, dot)
    status, body = await get(client, auth_headers, f"/runs/{run.id}/configuration")
    assert status == 200
    assert body["llm"] == llm


# ---- steering --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "Missing required field 'guidance'."),
        ({"guidance": None}, "Missing required field 'guidance'."),
        ({"guidance": 5}, "Field 'guidance' must be a string."),
        ({"guidance": ""}, "Field 'guidance' must not be empty."),
        ({"guidance": " \n\t "}, "Field 'guidance' must not be empty."),
        ({"guidance": "x", "location": "a.py"}, "Field 'location' must be an object."),
        ({"guidance": "x", "location": {}}, "Missing required field 'location.file'."),
        ({"guidance": "x", "location": {"file": 1}}, "Field 'location.file' must be a string."),
        (
            {"guidance": "x", "location": {"file": "a.py", "line": "4"}},
            "Field 'location.line' must be an integer.",
        ),
        (
            {"guidance": "x", "location": {"file": "a.py", "line": True}},
            "Field 'location.line' must be an integer.",
        ),
    ],
)
async def test_steer_validates_the_body(
    client: Client, auth_headers: dict[str, str], body: dict[str, Any], detail: str
) -> None:
    response = await client.post("/runs/NOPE/steer", json=body, headers=auth_headers)
    assert response.status_code == 400
    assert_envelope(await response.get_json(), 400, detail)


async def test_steer_needs_a_json_object(client: Client, auth_headers: dict[str, str]) -> None:
    response = await client.post("/runs/NOPE/steer", data=b"guidance", headers=auth_headers)
    assert response.status_code == 415
    response = await client.post("/runs/NOPE/steer", json=["x"], headers=auth_headers)
    assert_envelope(await response.get_json(), 400, "Request body must be a JSON object.")


async def test_steer_a_running_and_a_paused_run(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    run = await create(services, GATED)
    asked = await question(services, run.id)
    body = {"guidance": "Use the client", "location": {"file": "src/app.py", "line": 42}}
    response = await client.post(f"/runs/{run.id}/steer", json=body, headers=auth_headers)
    assert response.status_code == 202
    assert await response.get_data(as_text=False) == b""
    await services.runs.pause(run.id)
    response = await client.post(
        f"/runs/{run.id}/steer",
        json={"guidance": "Second", "location": {"file": "b.py"}},
        headers=auth_headers,
    )
    assert response.status_code == 202
    stored = await services.store.pending_steering(run.id)
    assert [(s.n, s.guidance, s.location, s.created_by) for s in stored] == [
        (1, "Use the client", {"file": "src/app.py", "line": 42}, "alice"),
        (2, "Second", {"file": "b.py"}, "alice"),
    ]
    assert stored[0].text == "Use the client (at src/app.py:42)"
    await services.runs.desk.answer(run.id, asked.qid, Answer(selected_option_key="A"), "alice")
    await services.runs.unpause(run.id)
    await wait_status(services, run.id, {"completed"})


async def test_steer_is_409_unless_running_or_paused(
    client: Client, auth_headers: dict[str, str], services: Services
) -> None:
    done = await finished(services, LINEAR)
    services.runs.max_concurrent_runs = 0
    queued = await create(services, LINEAR)
    for run in (done, queued):
        response = await client.post(
            f"/runs/{run.id}/steer", json={"guidance": "go"}, headers=auth_headers
        )
        assert response.status_code == 409
        assert_envelope(await response.get_json(), 409, "Run is not steerable.")
        assert await services.store.pending_steering(run.id) == []
