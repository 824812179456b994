"""The run page against real runs of the real engine: header, graph, stages, questions,
timeline, controls (the API's own code), steering, stage details, and escaping throughout."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from fabro.auth.keys import ensure_key_pair
from fabro.clock import now_ts
from fabro.config import Settings, load_settings
from fabro.services import Services
from fabro.ui import graph, run_view
from tests.api.runs_helpers import GATED, LINEAR, SLOW, start, wait_for, wait_for_question
from tests.conftest import write_config

SCRIPT = "<script>alert(1)</script>"
DONE = """digraph Done {
  graph [goal="Print <b>bold</b>"]
  start [shape=Mdiamond]
  shout [shape=parallelogram, label="<script>alert(1)</script>",
         script="echo '<script>alert(1)</script>'; echo oops >&2"]
  exit [shape=Msquare]
  start -> shout -> exit
}"""
LONG = """digraph Long {
  start [shape=Mdiamond]
  count [shape=parallelogram, script="seq 1 500"]
  exit [shape=Msquare]
  start -> count -> exit
}"""
BROKEN = """digraph Broken {
  start [shape=Mdiamond]
  boom [shape=parallelogram, script="echo broken; exit 3", max_retries=0, goal_gate=true]
  exit [shape=Msquare]
  start -> boom -> exit
}"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """One run at a time, so that a second run stays queued."""
    ensure_key_pair(tmp_path / "data" / "keys")
    path = write_config(tmp_path)
    path.write_text("max_concurrent_runs = 1\n" + path.read_text(), encoding="utf-8")
    return load_settings(path, env={"HOME": str(tmp_path)}).settings


async def _page(ui_client: Client, url: str, status: int = 200) -> str:
    response = await ui_client.get(url)
    text = await response.get_data(as_text=True)
    assert response.status_code == status, text
    return text


def _node_class(page: str, node_id: str) -> str:
    found = re.search(rf'<g id="node\d+" class="([^"]*)" data-node-id="{re.escape(node_id)}"', page)
    assert found, f"no graph node {node_id}"
    return found.group(1)


def _stage_item(page: str, node_id: str) -> str:
    found = re.search(rf'<li class="stage-item" data-node-id="{re.escape(node_id)}"[^>]*>', page)
    assert found, f"no stage item {node_id}"
    return found.group(0)


async def _post(
    ui_client: Client, url: str, csrf: str | None, **fields: str
) -> Any:  # the response
    form = dict(fields)
    if csrf is not None:
        form["csrf_token"] = csrf
    return await ui_client.post(url, form=form)


# ---- rendering in each state -------------------------------------------------------------------


async def test_a_queued_run(
    ui_client: Client, client: Client, auth_headers: dict[str, str]
) -> None:
    first = await start(client, auth_headers, SLOW)
    await wait_for(client, auth_headers, first["id"], {"running"})
    queued = await start(client, auth_headers, GATED, labels={"team": "<i>core</i>"})
    page = await _page(ui_client, f"/ui/runs/{queued['id']}")
    assert 'id="run-status" data-key="queued"' in page
    assert "Queued" in page and "No stage has started yet." in page
    assert "team=&lt;i&gt;core&lt;/i&gt;" in page
    assert _node_class(page, "approve") == "node stage stage-pending"
    assert 'id="run-cancel"' in page and 'id="run-pause"' not in page
    await client.post(f"/runs/{first['id']}/cancel", headers=auth_headers)
    await client.post(f"/runs/{queued['id']}/cancel", headers=auth_headers)


async def test_a_run_waiting_at_a_gate_shows_its_question(
    ui_client: Client, client: Client, auth_headers: dict[str, str]
) -> None:
    run = await start(client, auth_headers, GATED)
    question = await wait_for_question(client, auth_headers, run["id"])
    page = await _page(ui_client, f"/ui/runs/{run['id']}")
    assert 'id="run-status" data-key="waiting"' in page and "Waiting for a person" in page
    assert _node_class(page, "start") == "node stage stage-completed"
    assert _node_class(page, "approve") == "node stage stage-waiting"
    assert _node_class(page, "done") == "node stage stage-pending"
    assert 'data-status="waiting"' in _stage_item(page, "approve")
    action = f"/ui/runs/{run['id']}/questions/{question['id']}/answer"
    assert f'<form method="post" action="{action}" class="answer-options">' in page
    assert '<button type="submit" name="option" value="A" class="answer-option">' in page
    assert f'name="next" value="/ui/runs/{run["id"]}"' in page
    for control in ("run-pause", "run-cancel", "run-steer"):
        assert f'id="{control}"' in page
    assert 'id="run-unpause"' not in page
    await client.post(f"/runs/{run['id']}/cancel", headers=auth_headers)


async def test_a_completed_run_escapes_labels_goal_and_output(
    ui_client: Client, client: Client, auth_headers: dict[str, str]
) -> None:
    run = await start(client, auth_headers, DONE)
    await wait_for(client, auth_headers, run["id"], {"completed"})
    page = await _page(ui_client, f"/ui/runs/{run['id']}")
    assert "<script>" not in page.replace('<script src="/ui/static/', "")
    assert "Print &lt;b&gt;bold&lt;/b&gt;" in page
    assert _node_class(page, "shout") == "node stage stage-completed"
    assert _node_class(page, "exit") == "node stage stage-completed"
    assert "The run is over: nothing to control." in page and 'id="run-steer"' not in page
    assert 'data-terminal="true"' in page
    # The checkpoint and context, collapsed, as pretty JSON.
    assert '<details class="output" id="run-checkpoint">' in page
    assert "&#34;current_node&#34;" in page or "&quot;current_node&quot;" in page

    stage = await _page(ui_client, f"/ui/runs/{run['id']}/stages/shout")
    assert "<script>alert" not in stage
    assert html.escape(SCRIPT, quote=False) in stage
    assert '<details class="output stage-file" data-file="stdout.log" open>' in stage
    assert '<details class="output stage-file" data-file="stderr.log" open>' in stage
    assert "oops" in stage
    assert "<h3>Command</h3>" in stage and "echo &#39;&lt;script&gt;" in stage
    # The exit stage has no stored row, yet it is a stage of the run with a page.
    exit_stage = await _page(ui_client, f"/ui/runs/{run['id']}/stages/exit")
    assert 'data-stage-id="exit" data-status="completed"' in exit_stage


async def test_an_empty_output_says_so(
    ui_client: Client, client: Client, auth_headers: dict[str, str]
) -> None:
    run = await start(client, auth_headers, LONG)
    await wait_for(client, auth_headers, run["id"], {"completed"})
    stage = await _page(ui_client, f"/ui/runs/{run['id']}/stages/count")
    assert '<p class="muted stage-file-empty" data-file="stderr.log">' in stage


async def test_a_failed_run(
    ui_client: Client, client: Client, auth_headers: dict[str, str]
) -> None:
    run = await start(client, auth_headers, BROKEN)
    await wait_for(client, auth_headers, run["id"], {"failed"})
    page = await _page(ui_client, f"/ui/runs/{run['id']}")
    assert 'id="run-status" data-key="failed"' in page
    assert _node_class(page, "boom") == "node stage stage-failed"
    assert 'id="run-error"' in page
    stage = await _page(ui_client, f"/ui/runs/{run['id']}/stages/boom")
    assert "broken" in stage and 'class="stage-failure"' in stage


async def test_a_stage_fragment_and_an_unknown_stage(
    ui_client: Client, client: Client, auth_headers: dict[str, str]
) -> None:
    run = await start(client, auth_headers, BROKEN)
    await wait_for(client, auth_headers, run["id"], {"failed"})
    fragment = await _page(ui_client, f"/ui/runs/{run['id']}/stages/boom?fragment=1")
    assert "<html" not in fragment and 'id="stage-detail"' in fragment
    missing = await _page(ui_client, f"/ui/runs/{run['id']}/stages/nope", 404)
    assert "Stage not found." in missing
    await _page(ui_client, "/ui/runs/NOPE", 404)


async def test_an_agent_stage_shows_prompt_response_turns_and_usage(
    ui_client: Client, client: Client, auth_headers: dict[str, str]
) -> None:
    run = await start(client, auth_headers, LINEAR)
    await wait_for(client, auth_headers, run["id"], {"completed"})
    stage = await _page(ui_client, f"/ui/runs/{run['id']}/stages/work")
    for heading in ("Prompt", "Response", "Turns", "Usage"):
        assert f"<h3>{heading}</h3>" in stage
    assert 'data-file="prompt.md"' in stage and "Do Say hello" in stage
    assert '<li class="turn turn-assistant">' in stage
    assert "[Simulated] Response for stage: work" in stage


async def test_tool_calls_are_listed_and_escaped(
    ui_client: Client,
    client: Client,
    auth_headers: dict[str, str],
    services: Services,
) -> None:
    run = await start(client, auth_headers, LINEAR)
    await wait_for(client, auth_headers, run["id"], {"completed"})
    tool = {
        "id": "toolu_01",
        "tool_name": "<img src=x onerror=alert(1)>",
        "input": '{"path": "<b>"}',
        "result": SCRIPT,
        "is_error": True,
        "duration_ms": 3,
    }
    store = services.store
    await store.commit(store.append_turn(run["id"], "work", "tool", now_ts(), "Looking.", [tool]))
    stage = await _page(ui_client, f"/ui/runs/{run['id']}/stages/work")
    assert "<img" not in stage and "<script>alert" not in stage and "<b>" not in stage
    assert '<li class="tool-call">' in stage
    assert "<code>&lt;img src=x onerror=alert(1)&gt;</code>" in stage
    assert html.escape(SCRIPT, quote=False) in stage and "3 ms" in stage
    assert '<span class="status status-failed">' in stage


async def test_a_long_output_shows_its_tail_collapsed_with_the_whole_file_linked(
    ui_client: Client, client: Client, auth_headers: dict[str, str]
) -> None:
    run = await start(client, auth_headers, LONG)
    await wait_for(client, auth_headers, run["id"], {"completed"})
    stage = await _page(ui_client, f"/ui/runs/{run['id']}/stages/count")
    assert '<details class="output stage-file" data-file="stdout.log">' in stage
    output = re.search(
        r'data-file="stdout.log">.*?<pre class="stage-output">(.*?)</pre>', stage, re.S
    )
    assert output is not None
    assert output.group(1).split() == [str(n) for n in range(301, 501)]
    whole = f"/runs/{run['id']}/stages/count/artifacts/stdout.log"
    assert f'href="{whole}">Open the whole file' in stage
    # The link works with the session cookie alone (the API accepts it for reading).
    response = await ui_client.get(whole)
    assert response.status_code == 200
    assert (await response.get_data(as_text=True)).split() == [str(n) for n in range(1, 501)]


async def test_without_graphviz_the_page_says_so_and_shows_the_rest(
    ui_client: Client,
    client: Client,
    auth_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    run = await start(client, auth_headers, DONE)
    await wait_for(client, auth_headers, run["id"], {"completed"})
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no `dot` to be found
    graph.draw_cached.cache_clear()  # nor a drawing made before
    page = await _page(ui_client, f"/ui/runs/{run['id']}")
    assert 'id="run-graph-error"' in page and "Graphviz dot command not available." in page
    assert 'data-status="completed"' in _stage_item(page, "shout")


# ---- timeline and the live fragment --------------------------------------------------------------


async def test_the_timeline_pages_back_with_earlier(
    ui_client: Client,
    client: Client,
    auth_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = await start(client, auth_headers, DONE)
    await wait_for(client, auth_headers, run["id"], {"completed"})
    monkeypatch.setattr(run_view, "TIMELINE_PAGE", 3)
    latest = await _page(ui_client, f"/ui/runs/{run['id']}")
    seqs = [int(s) for s in re.findall(r'<li class="event" data-seq="(\d+)"', latest)]
    assert len(seqs) == 3 and seqs == sorted(seqs)
    earlier = re.search(r'id="timeline-earlier" href="([^"#]*)', latest)
    assert earlier is not None
    older = await _page(ui_client, html.unescape(earlier.group(1)))
    before = [int(s) for s in re.findall(r'<li class="event" data-seq="(\d+)"', older)]
    assert before == [seqs[0] - 3, seqs[0] - 2, seqs[0] - 1]
    assert 'data-paged="true"' in older
    # The live fragment gives a page at a time and says when more wait.
    live = await _page(ui_client, f"/ui/runs/{run['id']}/live?after=0")
    assert re.findall(r'<li class="event" data-seq="(\d+)"', live) == ["1", "2", "3"]
    assert 'data-full="true"' in live
    for bad in ("x", "-1", "%C2%B2", "9" * 19):  # %C2%B2 is a superscript two
        refused = await _page(ui_client, f"/ui/runs/{run['id']}?before={bad}", 400)
        assert "Query parameter &#39;before&#39; must be a non-negative integer." in refused


async def test_the_live_fragment_has_the_parts_and_the_new_events(
    ui_client: Client, client: Client, auth_headers: dict[str, str]
) -> None:
    run = await start(client, auth_headers, GATED)
    await wait_for_question(client, auth_headers, run["id"])
    live = await _page(ui_client, f"/ui/runs/{run['id']}/live?after=2")
    parts = ("run-status", "run-current", "run-outcome", "run-controls", "run-questions")
    for part in (*parts, "run-stages"):
        assert f'id="{part}"' in live
    seqs = [int(s) for s in re.findall(r'<li class="event" data-seq="(\d+)"', live)]
    assert seqs and seqs[0] == 3
    assert 'data-full="false"' in live and "<html" not in live
    await client.post(f"/runs/{run['id']}/cancel", headers=auth_headers)


# ---- controls ----------------------------------------------------------------------------------


async def test_cancel_a_running_run(
    ui_client: Client, ui_csrf: str, client: Client, auth_headers: dict[str, str]
) -> None:
    run = await start(client, auth_headers, SLOW)
    await wait_for(client, auth_headers, run["id"], {"running"})
    url = f"/ui/runs/{run['id']}/actions/cancel"
    response = await _post(ui_client, url, ui_csrf)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/ui/runs/{run['id']}")
    assert (await wait_for(client, auth_headers, run["id"], {"cancelled"}))["status"]
    # Cancelling again is the API's 409, shown as the error page.
    again = await _post(ui_client, url, ui_csrf)
    assert again.status_code == 409
    assert "Run is not cancellable." in await again.get_data(as_text=True)


async def test_pause_and_unpause(
    ui_client: Client, ui_csrf: str, client: Client, auth_headers: dict[str, str]
) -> None:
    run = await start(client, auth_headers, GATED)
    await wait_for_question(client, auth_headers, run["id"])
    paused = await _post(ui_client, f"/ui/runs/{run['id']}/actions/pause", ui_csrf)
    assert paused.status_code == 303
    page = await _page(ui_client, f"/ui/runs/{run['id']}")
    assert 'id="run-status" data-key="paused"' in page and 'id="run-unpause"' in page
    again = await _post(ui_client, f"/ui/runs/{run['id']}/actions/pause", ui_csrf)
    assert again.status_code == 409
    resumed = await _post(ui_client, f"/ui/runs/{run['id']}/actions/unpause", ui_csrf)
    assert resumed.status_code == 303
    assert (await wait_for(client, auth_headers, run["id"], {"running"}))["status"]
    unknown = await _post(ui_client, f"/ui/runs/{run['id']}/actions/explode", ui_csrf)
    assert unknown.status_code == 404
    await client.post(f"/runs/{run['id']}/cancel", headers=auth_headers)


async def test_cancel_a_completed_run_is_the_409_page(
    ui_client: Client, ui_csrf: str, client: Client, auth_headers: dict[str, str]
) -> None:
    run = await start(client, auth_headers, DONE)
    await wait_for(client, auth_headers, run["id"], {"completed"})
    response = await _post(ui_client, f"/ui/runs/{run['id']}/actions/cancel", ui_csrf)
    assert response.status_code == 409
    text = await response.get_data(as_text=True)
    assert "Run is not cancellable." in text and "<!doctype html>" in text


async def test_steer(
    ui_client: Client,
    ui_csrf: str,
    client: Client,
    auth_headers: dict[str, str],
    services: Services,
) -> None:
    run = await start(client, auth_headers, GATED)
    await wait_for_question(client, auth_headers, run["id"])
    url = f"/ui/runs/{run['id']}/steer"
    response = await _post(ui_client, url, ui_csrf, guidance="Prefer the small fix.")
    assert response.status_code == 303
    [steering] = await services.store.pending_steering(run["id"])
    assert steering.guidance == "Prefer the small fix."
    assert steering.created_by == "alice"
    blank = await _post(ui_client, url, ui_csrf, guidance="   ")
    assert blank.status_code == 400
    assert "guidance" in await blank.get_data(as_text=True)
    await client.post(f"/runs/{run['id']}/cancel", headers=auth_headers)
    await wait_for(client, auth_headers, run["id"], {"cancelled"})
    late = await _post(ui_client, url, ui_csrf, guidance="Too late")
    assert late.status_code == 409


async def test_a_post_without_the_csrf_token_is_refused(
    ui_client: Client, client: Client, auth_headers: dict[str, str]
) -> None:
    run = await start(client, auth_headers, SLOW)
    await wait_for(client, auth_headers, run["id"], {"running"})
    for url in (f"/ui/runs/{run['id']}/actions/cancel", f"/ui/runs/{run['id']}/steer"):
        refused = await _post(ui_client, url, None, guidance="x")
        assert refused.status_code == 403
    assert (await wait_for(client, auth_headers, run["id"], {"running"}))["status"]
    await client.post(f"/runs/{run['id']}/cancel", headers=auth_headers)
