"""The run page (/ui/runs/<id>): header, graph, stages, questions, timeline and controls,
the live fragment its script refreshes, the controls' POSTs and a stage's details.

The controls call what the API's handlers call (transition_run, steer), so a UI action is
checked exactly as the API's is (a 409 for a run that cannot be cancelled, and so on).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from quart import redirect, render_template, request, url_for

from fabro.api.bodies.runs import SteerRequest
from fabro.api.context import services
from fabro.api.internals import STEERABLE, steer
from fabro.api.lookup import run_or_404
from fabro.api.request import as_body
from fabro.api.runs import TRANSITIONS, transition_run
from fabro.errors import BadRequest, NotFound
from fabro.ui import run_view
from fabro.ui.auth import signed_in
from fabro.ui.blueprint import ui
from fabro.ui.run_stage import cut, load_stage
from fabro.ui.run_view import (
    RunLive,
    events_since,
    load_graph,
    load_live,
    load_state,
    load_timeline,
)

# The status a run is paused from (fabro.engine.lifecycle); the manager has the last word on
# every control (a 409 page when the run moved on meanwhile).
PAUSABLE = frozenset({"running"})


def _seq(name: str) -> int | None:
    """A sequence number from the query (`before`, `after`): 400 naming it when malformed."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise BadRequest(f"Query parameter '{name}' must be a non-negative integer.")
    return int(raw)


def _controls(live: RunLive) -> dict[str, bool]:
    status = live.run.status
    return {
        "pause": status in PAUSABLE,
        "unpause": status == "paused",
        "cancel": not live.run.is_terminal,
        "steer": status in STEERABLE,
    }


def controls_key(controls: dict[str, bool]) -> str:
    """The controls offered, as run.js compares them to know whether to redraw them."""
    return ",".join(action for action, offered in controls.items() if offered)


def _live_context(live: RunLive) -> dict[str, Any]:
    run = live.run
    return {
        "run": run,
        "live": live,
        "controls": _controls(live),
        "controls_key": controls_key,
        "runs_url": url_for("ui.board"),
        # The board's answer route (fabro/ui/board.py), which goes back to `next`.
        "answer_urls": {
            q.id: url_for("ui.answer_question", run_id=run.id, qid=q.id) for q in live.questions
        },
        "here": url_for("ui.run_page", run_id=run.id),
    }


@ui.route("/runs/<run_id>", methods=["GET"], endpoint="run_page")
async def run_page(run_id: str) -> Any:
    before = _seq("before")
    run = await run_or_404(run_id)
    # Read before the state it follows, so no event after it is missed by the live page.
    stream_after = await services().store.last_seq(run.id)
    live = await load_live(run)
    svg, graph_error = await load_graph(live)
    timeline = await load_timeline(run.id, before)
    checkpoint, context = await load_state(run.id)
    last_seq = timeline.entries[-1].seq if timeline.entries else 0
    return await render_template(
        "run.html",
        **_live_context(live),
        svg=svg,
        graph_error=graph_error,
        timeline=timeline,
        paged=before is not None,
        last_seq=last_seq,
        stream_after=stream_after,
        checkpoint=checkpoint,
        context=context,
    )


@ui.route("/runs/<run_id>/live", methods=["GET"], endpoint="run_live")
async def run_live(run_id: str) -> Any:
    """The changing parts of the page, for run.js to swap in; with `after`, new events too."""
    after = _seq("after")
    run = await run_or_404(run_id)
    live = await load_live(run)
    entries = await events_since(run.id, after) if after is not None else []
    # A full page of events means more may follow: run.js asks again at once.
    full = len(entries) >= run_view.TIMELINE_PAGE
    return await render_template(
        "run_live.html", **_live_context(live), entries=entries, entries_full=full
    )


@ui.route("/runs/<run_id>/actions/<action>", methods=["POST"], endpoint="run_action")
async def run_action(run_id: str, action: str) -> Any:
    """Cancel, pause or unpause, then back to the run page (409 page when not allowed)."""
    if action not in TRANSITIONS:
        raise NotFound("No such run action.")
    await transition_run(run_id, action)
    return redirect(url_for("ui.run_page", run_id=run_id), 303)


@ui.route("/runs/<run_id>/steer", methods=["POST"], endpoint="run_steer")
async def run_steer(run_id: str) -> Any:
    form = await request.form
    body = as_body({"guidance": form.get("guidance")}, SteerRequest)
    await steer(run_id, body, signed_in().login)
    return redirect(url_for("ui.run_page", run_id=run_id), 303)


@ui.route("/runs/<run_id>/stages/<stage_id>", methods=["GET"], endpoint="stage_detail")
async def stage_detail(run_id: str, stage_id: str) -> Any:
    """A stage's page; `?fragment=1` gives its body alone, for the run page to show inline."""
    detail = await load_stage(run_id, stage_id)
    template = "run_stage_body.html" if request.args.get("fragment") else "run_stage.html"
    artifacts = f"/runs/{quote(detail.run.id, safe='')}/stages/{quote(stage_id, safe='')}"
    return await render_template(
        template,
        detail=detail,
        run=detail.run,
        stage=detail.stage,
        artifacts_url=artifacts + "/artifacts",
        cut=cut,
    )
