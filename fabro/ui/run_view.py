"""What the run page shows, loaded through the API's own functions: stages, graph, questions,
the event timeline, the checkpoint and the context."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import msgspec
from quart import url_for

from fabro.api import internals
from fabro.api.bodies.questions import ApiQuestion
from fabro.api.bodies.stages import RunStage
from fabro.api.context import services
from fabro.api.questions import list_run_questions
from fabro.api.stages import run_stage_list
from fabro.storage.records import EventRecord, RunRecord
from fabro.ui.graph import NodeState, graph_svg
from fabro.workflow.errors import GraphvizError
from fabro.workflow.model import Graph

TIMELINE_PAGE = 200
SUMMARY_CHARS = 200  # an event's one-line summary in the timeline
MAX_JSON_CHARS = 256 * 1024  # the checkpoint and context shown on the page
# The payload fields a timeline line names, in this order, when the event has them.
SUMMARY_FIELDS = (
    "node_id",
    "name",
    "stage",
    "status",
    "attempt",
    "will_retry",
    "from_node",
    "to_node",
    "label",
    "branch",
    "question",
    "answer",
    "reason",
    "queue_position",
    "duration_ms",
)


@dataclass(frozen=True)
class TimelineEntry:
    seq: int
    ts: str
    variant: str
    summary: str
    child_depth: int


@dataclass(frozen=True)
class Timeline:
    entries: list[TimelineEntry]
    earlier: int | None  # `before` of the previous page, None at the first event


@dataclass(frozen=True)
class StageRow:
    """A stage as the page lists it: the API's RunStage, shown `waiting` at an open question."""

    id: str
    name: str
    dot_id: str
    status: str
    duration_secs: float | None
    href: str | None  # its details page (none for a pending stage)


@dataclass(frozen=True)
class RunLive:
    """The parts of the page that change while the run runs."""

    run: RunRecord
    status: str  # the run's status, or `waiting` while a question waits for an answer
    stages: list[StageRow]
    questions: list[ApiQuestion]


def display_status(run: RunRecord, questions: list[ApiQuestion]) -> str:
    return "waiting" if questions and run.status == "running" else run.status


def stage_row(run_id: str, stage: RunStage, asking: set[str]) -> StageRow:
    status = "waiting" if stage.status == "running" and stage.dot_id in asking else stage.status
    href = None
    if stage.status != "pending":
        href = url_for("ui.stage_detail", run_id=run_id, stage_id=stage.id)
    duration = stage.duration_secs if isinstance(stage.duration_secs, float | int) else None
    return StageRow(stage.id, stage.name, stage.dot_id, status, duration, href)


async def load_live(run: RunRecord) -> RunLive:
    stages = await run_stage_list(run)
    questions = (await list_run_questions(run.id)).data
    asking = {q.stage for q in questions if isinstance(q.stage, str)}
    rows = [stage_row(run.id, stage, asking) for stage in stages]
    return RunLive(run, display_status(run, questions), rows, questions)


def node_states(live: RunLive) -> dict[str, NodeState]:
    """Each node's latest stage (rows come in execution order, so later ones win)."""
    return {row.dot_id: NodeState(row.status, row.href) for row in live.stages}


async def load_graph(live: RunLive) -> tuple[str | None, str | None]:
    """The graph's SVG, or None and why it could not be drawn (the page shows the rest)."""
    states = node_states(live)

    def draw() -> str:  # a large graph takes a while to rebuild as well as to draw
        graph = Graph.from_json(live.run.prepared_graph)
        return graph_svg(graph, states, internals.GRAPH_TIMEOUT_S)

    try:
        svg = await asyncio.to_thread(draw)
    except GraphvizError as exc:
        return None, exc.detail
    return svg, None


# ---- timeline --------------------------------------------------------------------------------


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


def event_summary(record: EventRecord) -> str:
    """A line naming the event's main fields, e.g. `node_id=plan status=success`."""
    body = record.payload.get(record.variant)
    if not isinstance(body, dict):
        return ""
    parts = [f"{key}={_short(body[key])}" for key in SUMMARY_FIELDS if body.get(key) is not None]
    failure = body.get("failure") or body.get("error")
    if isinstance(failure, dict) and failure.get("message"):
        parts.append(f"failure={_short(failure['message'])}")
    event = body.get("event")
    if isinstance(event, dict) and event:
        parts.append(f"event={_short(next(iter(event)))}")
    return _short(" ".join(parts)) if parts else ""


def timeline_entry(record: EventRecord) -> TimelineEntry:
    return TimelineEntry(
        record.seq, record.ts, record.variant, event_summary(record), record.child_depth
    )


async def load_timeline(run_id: str, before: int | None) -> Timeline:
    """The page of events before ``before`` (the latest ones without it), oldest first."""
    store = services().store
    end = await store.last_seq(run_id)
    if before is not None:
        end = min(end, before - 1)
    start = max(end - TIMELINE_PAGE, 0)
    records = await store.events_after(run_id, start, limit=end - start) if end > 0 else []
    return Timeline([timeline_entry(r) for r in records], start + 1 if start > 0 else None)


async def events_since(run_id: str, after: int) -> list[TimelineEntry]:
    """The events after ``after`` for the live page (at most a page of them)."""
    records = await services().store.events_after(run_id, after, limit=TIMELINE_PAGE)
    return [timeline_entry(r) for r in records]


# ---- checkpoint and context ------------------------------------------------------------------


def pretty_json(value: Any) -> str:
    """Indented JSON, cut to MAX_JSON_CHARS (with a line saying so)."""
    text = json.dumps(msgspec.to_builtins(value), indent=2, ensure_ascii=False, sort_keys=True)
    if len(text) <= MAX_JSON_CHARS:
        return text
    return text[:MAX_JSON_CHARS] + f"\n… cut at {MAX_JSON_CHARS} characters of {len(text)}"


async def load_state(run_id: str) -> tuple[str, str]:
    """The checkpoint and the context as the API gives them (redacted), as pretty JSON."""
    checkpoint = await internals.retrieve_run_checkpoint(run_id)
    context = await internals.retrieve_run_context(run_id)
    return (
        await asyncio.to_thread(pretty_json, checkpoint),
        await asyncio.to_thread(pretty_json, context),
    )
