"""A stage's artifacts over HTTP (fabro): the files of `<run_dir>/nodes/<stageId>/`.

`GET /runs/{id}/stages/{stageId}/artifacts` lists them; `.../artifacts/{name}` serves one,
whole, as one byte range (`Range`) or as its last lines (`?tail=N`). Files are read off the
event loop in bounded pieces (fabro.storage.stage_files), and a name never leaves the folder.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from quart import Response, request
from quart.wrappers.response import ResponseBody

from fabro.api.bodies.stages import PaginatedStageArtifactList, StageArtifact
from fabro.api.context import Handler, services
from fabro.api.lookup import run_or_404
from fabro.api.pagination import page_params
from fabro.api.request import query_int
from fabro.api.stages import run_stage_list
from fabro.clock import format_ts
from fabro.errors import BadRequest, NotFound, RangeNotSatisfiable
from fabro.storage.stage_files import (
    CHUNK,
    Artifact,
    ArtifactInfo,
    RangeError,
    Unsatisfiable,
    list_artifacts,
    parse_range,
    stage_dir,
)

MAX_TAIL_LINES = 10_000
TEXT = "text/plain; charset=utf-8"
BINARY = "application/octet-stream"
SIZE_HEADER = "Fabro-Artifact-Size"  # the file's size when read: where a follower goes on


async def stage_folder(run_id: str, stage_id: str) -> Path:
    """The folder of a stage of the run: 404 for an unknown run or stage."""
    run = await run_or_404(run_id)
    if await services().store.get_stage(run.id, stage_id) is None:
        # The exit stage and a pending one have no row but are stages of the run.
        if all(stage.id != stage_id for stage in await run_stage_list(run)):
            raise NotFound("Stage not found.")
    return stage_dir(services().runs.lifecycle.run_dir(run.id), stage_id)


def _item(info: ArtifactInfo) -> StageArtifact:
    modified = format_ts(datetime.fromtimestamp(info.modified, UTC))
    return StageArtifact(name=info.name, size=info.size, updated_at=modified)


async def list_stage_artifacts(id: str, stageId: str) -> PaginatedStageArtifactList:  # noqa: N803
    params = page_params()
    folder = await stage_folder(id, stageId)
    files = await asyncio.to_thread(list_artifacts, folder)
    return PaginatedStageArtifactList.of(*params.slice([_item(info) for info in files]))


def _tail_lines() -> int | None:
    if not request.args.get("tail"):
        return None
    lines = query_int("tail", 0)
    if not 1 <= lines <= MAX_TAIL_LINES:
        raise BadRequest(f"Query parameter 'tail' must be between 1 and {MAX_TAIL_LINES}.")
    return lines


class _ArtifactBody(ResponseBody):
    """``length`` bytes of an open artifact from ``start``, read a chunk at a time in a
    thread; the file is closed once the response is sent (or abandoned)."""

    def __init__(self, artifact: Artifact, start: int, length: int) -> None:
        self.artifact = artifact
        self.start = start
        self.length = length

    async def __aenter__(self) -> _ArtifactBody:
        return self

    async def __aexit__(
        self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.artifact.close()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        offset, end = self.start, self.start + self.length
        while offset < end:
            chunk = await asyncio.to_thread(self.artifact.read, offset, min(CHUNK, end - offset))
            if not chunk:  # the file shrank meanwhile: the client sees a short body
                return
            offset += len(chunk)
            yield chunk


def _response(artifact: Artifact, start: int, length: int, status: int) -> Response:
    response = Response(
        _ArtifactBody(artifact, start, length),
        status=status,
        content_type=TEXT if artifact.is_text else BINARY,
    )
    response.headers["Content-Length"] = str(length)
    response.headers["Accept-Ranges"] = "bytes"
    response.headers[SIZE_HEADER] = str(artifact.size)
    if status == 206:
        response.headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{artifact.size}"
    return response


def _byte_range(header: str, size: int) -> tuple[int, int]:
    try:
        return parse_range(header, size)
    except RangeError:
        raise BadRequest(
            "Header 'Range' must be one byte range: bytes=FIRST-LAST, bytes=FIRST- or bytes=-N."
        ) from None
    except Unsatisfiable:
        raise RangeNotSatisfiable(
            f"Range not satisfiable: the artifact has {size} bytes.",
            headers={"Content-Range": f"bytes */{size}"},
        ) from None


async def retrieve_stage_artifact(id: str, stageId: str, name: str) -> Response:  # noqa: N803
    lines = _tail_lines()
    wanted = request.headers.get("Range")
    if lines is not None and wanted is not None:
        raise BadRequest("Use either the 'Range' header or the 'tail' query parameter.")
    folder = await stage_folder(id, stageId)
    artifact = await asyncio.to_thread(Artifact.open, folder, name)
    if artifact is None:
        raise NotFound("Artifact not found.")
    try:
        if wanted is not None:
            first, last = _byte_range(wanted, artifact.size)
            return _response(artifact, first, last - first + 1, 206)
        start = 0 if lines is None else await asyncio.to_thread(artifact.tail_start, lines)
        return _response(artifact, start, artifact.size - start, 200)
    except BaseException:
        artifact.close()
        raise


HANDLERS: dict[str, Handler] = {
    "listStageArtifacts": list_stage_artifacts,
    "retrieveStageArtifact": retrieve_stage_artifact,
}
