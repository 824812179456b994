"""What a stage's details show: its row, turns and tool calls, and the tails of its files
(prompt, response, stdout, stderr), read through the API's own lookups."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from fabro.api.artifacts import stage_folder
from fabro.api.bodies.stages import RunStage, StageTurn
from fabro.api.context import services
from fabro.api.lookup import run_or_404
from fabro.api.stages import run_stage_list, turn_json
from fabro.errors import NotFound
from fabro.storage.records import RunRecord
from fabro.storage.stage_files import Artifact, ArtifactInfo, list_artifacts
from fabro.storage.stages import StageRecord
from fabro.workflow.model import Graph

# The files a stage's page shows (as their tail), in this order, with their headings.
SHOWN_FILES = (
    ("prompt.md", "Prompt"),
    ("response.md", "Response"),
    ("stdout.log", "stdout"),
    ("stderr.log", "stderr"),
)
TAIL_LINES = 200
TAIL_BYTES = 64 * 1024
MAX_TURNS = 500  # a stage's page lists this many turns (the API pages through all of them)
MAX_TOOL_TEXT = 16 * 1024  # of a tool call's input or result


@dataclass(frozen=True)
class FileTail:
    name: str
    heading: str
    text: str  # the last lines, decoded (undecodable bytes replaced)
    size: int
    cut: bool  # whether the file has more before the tail
    is_text: bool


@dataclass(frozen=True)
class StageDetail:
    run: RunRecord
    stage: RunStage
    record: StageRecord | None  # None for the exit stage and a pending one
    turns: list[StageTurn]
    more_turns: bool
    tails: list[FileTail]
    files: list[ArtifactInfo]
    script: str | None  # a command stage's command, as the workflow (after variables) has it


def read_tail(folder: Path, name: str, heading: str) -> FileTail | None:
    """The last TAIL_LINES lines (at most TAIL_BYTES) of a stage file: blocking."""
    artifact = Artifact.open(folder, name)
    if artifact is None:
        return None
    try:
        if not artifact.is_text:
            return FileTail(name, heading, "", artifact.size, artifact.size > 0, False)
        start = max(artifact.tail_start(TAIL_LINES, TAIL_BYTES), artifact.size - TAIL_BYTES)
        data = artifact.read(start, artifact.size - start)
        text = data.decode("utf-8", errors="replace")
        return FileTail(name, heading, text, artifact.size, start > 0, True)
    finally:
        artifact.close()


def read_files(folder: Path) -> tuple[list[FileTail], list[ArtifactInfo]]:
    """The shown files' tails and the listing of every file: blocking."""
    tails = [tail for name, heading in SHOWN_FILES if (tail := read_tail(folder, name, heading))]
    return tails, list_artifacts(folder)


def cut(text: str | None, limit: int = MAX_TOOL_TEXT) -> str:
    """``text`` with at most ``limit`` characters: its tail, as outputs end with what matters."""
    text = text or ""
    return text if len(text) <= limit else "…" + text[-limit:]


async def load_stage(run_id: str, stage_id: str) -> StageDetail:
    """A stage of the run with everything its page shows: 404 for an unknown run or stage."""
    run = await run_or_404(run_id)
    stage = next((s for s in await run_stage_list(run) if s.id == stage_id), None)
    if stage is None:
        raise NotFound("Stage not found.")
    store = services().store
    record = await store.get_stage(run.id, stage_id)
    turns = [turn_json(turn) for turn in await store.list_turns(run.id, stage_id)] if record else []
    folder = await stage_folder(run.id, stage_id)
    tails, files = await asyncio.to_thread(read_files, folder)
    node = Graph.from_json(run.prepared_graph).nodes.get(stage.dot_id)
    script = node.get("script") if node is not None else None
    more = len(turns) > MAX_TURNS
    return StageDetail(run, stage, record, turns[:MAX_TURNS], more, tails, files, script)
