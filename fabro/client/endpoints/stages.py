"""What a run keeps: its checkpoint, context, stages, turns, artifacts, usage, retro,
configuration and graph."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from fabro.api.bodies.runs import RunCheckpoint, RunConfiguration
from fabro.api.bodies.stages import (
    PaginatedRunStageList,
    PaginatedStageArtifactList,
    PaginatedStageTurnList,
    RetroDetail,
    RunStage,
    RunUsage,
    StageArtifact,
    StageTurn,
)
from fabro.client.calls import Call, PagedCall
from fabro.client.endpoints.shared import JsonObject, run_path, segment
from fabro.client.methods import endpoint, paged


def _stage(run_id: str, stage_id: str, *rest: str) -> str:
    return run_path(run_id, "stages", segment(stage_id), *rest)


SIZE_HEADER = "Fabro-Artifact-Size"  # the file's size when the server read it


@dataclass(frozen=True)
class ArtifactPart:
    """Bytes of an artifact: from ``start`` to its end (``partial``: a 206 answered the
    Range; else the whole file came), or its last lines; ``size``: the file's size when the
    server read it, where the next read goes on."""

    data: bytes
    size: int
    partial: bool


@dataclass(frozen=True)
class _ArtifactCall(Call[ArtifactPart]):
    def decode(self, response: httpx.Response) -> ArtifactPart:
        try:
            size = int(response.headers.get(SIZE_HEADER, ""))
        except ValueError:
            size = -1  # an older server: the caller counts the bytes it got
        return ArtifactPart(response.content, size, response.status_code == 206)


class StageEndpoints:
    """A run's internals, as the run's page shows them."""

    @endpoint
    def get_checkpoint(self, run_id: str) -> Call[RunCheckpoint | None]:
        """`GET /runs/{id}/checkpoint` (None before the first stage)."""
        return Call("GET", run_path(run_id, "checkpoint"), RunCheckpoint | None, retry_safe=True)

    @endpoint
    def get_context(self, run_id: str) -> Call[JsonObject]:
        """`GET /runs/{id}/context`: the run's context values."""
        return Call("GET", run_path(run_id, "context"), JsonObject, retry_safe=True)

    @paged
    def list_stages(self, run_id: str) -> PagedCall[RunStage]:
        """`GET /runs/{id}/stages`: the run's stages in order."""
        return PagedCall(run_path(run_id, "stages"), PaginatedRunStageList)

    @endpoint
    def get_run_usage(self, run_id: str) -> Call[RunUsage]:
        """`GET /runs/{id}/usage`: tokens and cost of one run."""
        return Call("GET", run_path(run_id, "usage"), RunUsage, retry_safe=True)

    @paged
    def list_turns(self, run_id: str, stage_id: str) -> PagedCall[StageTurn]:
        """`GET /runs/{id}/stages/{stageId}/turns`: the LLM turns of a stage, in order."""
        return PagedCall(_stage(run_id, stage_id, "turns"), PaginatedStageTurnList)

    @paged
    def list_artifacts(self, run_id: str, stage_id: str) -> PagedCall[StageArtifact]:
        """`GET /runs/{id}/stages/{stageId}/artifacts`: the files of a stage's folder (names
        relative to it, with ``/``)."""
        return PagedCall(_stage(run_id, stage_id, "artifacts"), PaginatedStageArtifactList)

    @endpoint
    def get_artifact(
        self, run_id: str, stage_id: str, name: str, *, tail: int | None = None
    ) -> Call[bytes]:
        """`GET /runs/{id}/stages/{stageId}/artifacts/{name}`: a file of a stage's folder,
        whole, or its last ``tail`` lines (1 to 10,000). ``name`` as ``list_artifacts`` gives
        it; sent as one segment, so its ``/`` and ``..`` never leave the artifacts route."""
        params: dict[str, str | int] = {} if tail is None else {"tail": tail}
        path = _stage(run_id, stage_id, "artifacts", segment(name))
        return Call("GET", path, bytes, params=params, retry_safe=True)

    @endpoint
    def read_artifact(
        self,
        run_id: str,
        stage_id: str,
        name: str,
        *,
        start: int = 0,
        tail: int | None = None,
    ) -> Call[ArtifactPart]:
        """`GET .../artifacts/{name}` read as a follower reads a growing file: what comes
        after byte ``start`` (a Range request; RangeNotSatisfiableError when nothing does),
        or its last ``tail`` lines, with the file's size then (the Fabro-Artifact-Size
        header) to go on from."""
        params: dict[str, str | int] = {} if tail is None else {"tail": tail}
        headers = {"Range": f"bytes={start}-"} if start and tail is None else {}
        path = _stage(run_id, stage_id, "artifacts", segment(name))
        return _ArtifactCall("GET", path, None, params=params, headers=headers, retry_safe=True)

    @endpoint
    def get_retro(self, run_id: str) -> Call[RetroDetail | None]:
        """`GET /runs/{id}/retro`: the run's retrospective (None until the run is over)."""
        return Call("GET", run_path(run_id, "retro"), RetroDetail | None, retry_safe=True)

    @endpoint
    def get_configuration(self, run_id: str) -> Call[RunConfiguration]:
        """`GET /runs/{id}/configuration`: what the run was started with."""
        return Call("GET", run_path(run_id, "configuration"), RunConfiguration, retry_safe=True)

    @endpoint
    def get_graph(self, run_id: str, *, format: str = "svg") -> Call[bytes]:
        """`GET /runs/{id}/graph`: the run's graph drawn by Graphviz (SVG or PNG bytes)."""
        params: dict[str, str | int] = {"format": format}
        return Call("GET", run_path(run_id, "graph"), bytes, params=params, retry_safe=True)
