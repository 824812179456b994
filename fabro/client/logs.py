"""`fabro runs logs RUN [STAGE]`: what stages printed, read over the stage-artifacts API.

`GET /runs/{id}/stages/{stage}/artifacts` lists a stage's files and
`GET .../artifacts/{name}` serves one as text (`?tail=N`: its last lines; `Range: bytes=a-`:
what was written after byte a). Each artifact is printed under a `==> stage: name <==` header,
stages in execution order. `--follow` reads what is appended, with Range, until the run ends.
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import quote

import httpx

from fabro.auth.client import ClientSettings, http_client
from fabro.client.api import TERMINAL, ApiError, raise_for_error, run_status

# What a stage "printed": a command's output streams, an LLM stage's response.
LOG_ARTIFACTS = ("stdout.log", "stderr.log", "response.md")
POLL_S = 0.5
PAGE = 100
FINISHED_STAGES = frozenset({"completed", "failed", "skipped", "cancelled"})
SIZE_HEADER = "Fabro-Artifact-Size"  # the file's size when it was read


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


@dataclass
class _Artifact:
    stage: dict[str, Any]
    name: str
    offset: int = 0
    decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace")
    )

    @property
    def title(self) -> str:
        return f"==> {self.stage['id']}: {self.name} <=="


class LogReader:
    """Prints the chosen artifacts of a run's stages, once or following the run."""

    def __init__(
        self,
        http: httpx.Client,
        settings: ClientSettings,
        run_id: str,
        out: TextIO,
        *,
        stage: str | None = None,
        names: Sequence[str] = LOG_ARTIFACTS,
        tail: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.http = http
        self.settings = settings
        self.run_id = run_id
        self.out = out
        self.stage = stage
        self.names = tuple(names)
        self.tail = tail
        self.sleep = sleep
        self.artifacts: dict[tuple[str, str], _Artifact] = {}
        self.finished_once: set[str] = set()  # stages seen finished by a sweep
        self.swept: set[str] = set()  # stages read twice after they finished: nothing more
        self.current: _Artifact | None = None
        self.at_line_start = True

    def _get(self, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.get(path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(self.settings.unreachable(exc)) from None
        return response

    def _paged(self, path: str, *, missing_ok: bool = False) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            params = {"page[limit]": PAGE, "page[offset]": offset}
            response = self._get(path, params=params)
            if missing_ok and response.status_code == 404:
                return
            raise_for_error(response)
            body = response.json()
            items = [item for item in body.get("data") or [] if isinstance(item, dict)]
            yield from items
            if not (body.get("meta") or {}).get("has_more") or not items:
                return
            offset += len(items)

    def run(self) -> dict[str, Any]:
        response = self._get(f"/runs/{self.run_id}")
        raise_for_error(response)
        body: dict[str, Any] = response.json()
        return body

    def stages(self, *, strict: bool) -> list[dict[str, Any]]:
        """The run's stages in order, or those STAGE names (its id, or its node's: every
        visit); with ``strict``, a STAGE that names none is an error."""
        stages = list(self._paged(f"/runs/{self.run_id}/stages"))
        if self.stage is None:
            return stages
        chosen = [s for s in stages if self.stage in (s.get("id"), s.get("dot_id"))]
        if strict and not chosen:
            known = ", ".join(str(s.get("id")) for s in stages) or "none yet"
            raise ApiError(f"no stage '{self.stage}' in run {self.run_id} (stages: {known})")
        return chosen

    def sweep(self, *, strict: bool = True) -> bool:
        """Print what is new in every chosen artifact; True when anything was printed."""
        printed = False
        for stage in self.stages(strict=strict):
            sid = str(stage.get("id"))
            if sid in self.swept:
                continue
            finished = stage.get("status") in FINISHED_STAGES
            # A stage without files (a pending or terminal node's) may have no listing.
            listing = self._paged(
                f"/runs/{self.run_id}/stages/{quote(sid, safe='')}/artifacts", missing_ok=True
            )
            sizes = {str(a.get("name")): int(a.get("size") or 0) for a in listing}
            for name in self.names:
                size = sizes.get(name, 0)
                artifact = self.artifacts.setdefault((sid, name), _Artifact(stage, name))
                if size > artifact.offset:
                    printed = self._read(artifact, size) or printed
            if finished:
                # Artifact files trail the stage's status a little (they are written in the
                # background): a stage is done with once it was read twice after it finished.
                if sid in self.finished_once:
                    self.swept.add(sid)
                self.finished_once.add(sid)
        return printed

    def _read(self, artifact: _Artifact, size: int) -> bool:
        sid = quote(str(artifact.stage["id"]), safe="")
        # Names of files in subfolders keep their slashes (the route takes a path).
        path = f"/runs/{self.run_id}/stages/{sid}/artifacts/{quote(artifact.name, safe='/')}"
        if artifact.offset == 0 and self.tail is not None:
            response = self._get(path, params={"tail": self.tail})
            raise_for_error(response)
            data = response.content
            # The tail ends where the file ended when it was read, which the server says.
            artifact.offset = _int(response.headers.get(SIZE_HEADER), size)
        else:
            response = self._get(path, headers={"Range": f"bytes={artifact.offset}-"})
            if response.status_code == 416:  # nothing after the offset after all
                return False
            raise_for_error(response)
            data = response.content
            if response.status_code == 200:  # the whole file: skip what was printed already
                data = data[artifact.offset :]
            artifact.offset += len(data)
        text = artifact.decoder.decode(data)
        if not text:
            return False
        if self.current is not artifact:
            self._end_line()
            if self.current is not None:
                self.out.write("\n")
            self.out.write(artifact.title + "\n")
            self.current = artifact
        self.out.write(text)
        self.out.flush()
        self.at_line_start = text.endswith("\n")
        return True

    def _end_line(self) -> None:
        if not self.at_line_start:
            self.out.write("\n")
            self.at_line_start = True

    def follow(self) -> None:
        """Sweep until the run is over and a sweep after that found nothing new."""
        while True:
            over = run_status(self.run()) in TERMINAL
            printed = self.sweep(strict=over)
            if over and not printed:
                break
            if not printed:
                self.sleep(POLL_S)
        self.finish()

    def finish(self) -> None:
        self._end_line()  # the last artifact may end without a newline; the prompt should not
        self.out.flush()


def show_logs(
    settings: ClientSettings,
    out: TextIO,
    run_id: str,
    *,
    stage: str | None,
    names: Sequence[str],
    tail: int | None,
    follow: bool,
) -> int:
    with http_client(settings, timeout=30.0) as http:
        reader = LogReader(
            http, settings, run_id, out, stage=stage, names=names or LOG_ARTIFACTS, tail=tail
        )
        reader.run()  # a missing run is a 404 before anything else
        if follow:
            reader.follow()
        else:
            reader.sweep()
            reader.finish()
    return 0
