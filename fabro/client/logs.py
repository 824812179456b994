"""`fabro runs logs RUN [STAGE]`: what stages printed, read over the stage-artifacts API.

`GET /runs/{id}/stages/{stage}/artifacts` lists a stage's files and
`GET .../artifacts/{name}` serves one as text (`?tail=N`: its last lines; `Range: bytes=a-`:
what was written after byte a). Each artifact is printed under a `==> stage: name <==` header,
stages in execution order. `--follow` reads what is appended, with Range, until the run ends.
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from fabro.client.api import TERMINAL, plain, run_status
from fabro.client.errors import NotFoundError, RangeNotSatisfiableError
from fabro.client.sdk import FabroClient

# What a stage "printed": a command's output streams, an LLM stage's response.
LOG_ARTIFACTS = ("stdout.log", "stderr.log", "response.md")
POLL_S = 0.5
FINISHED_STAGES = frozenset({"completed", "failed", "skipped", "cancelled"})


class NoSuchStage(LookupError):
    """STAGE names no stage of the run; the message lists those it has."""


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
        client: FabroClient,
        run_id: str,
        out: TextIO,
        *,
        stage: str | None = None,
        names: Sequence[str] = LOG_ARTIFACTS,
        tail: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
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

    def run(self) -> dict[str, Any]:
        body: dict[str, Any] = plain(self.client.get_run(self.run_id))
        return body

    def stages(self, *, strict: bool) -> list[dict[str, Any]]:
        """The run's stages in order, or those STAGE names (its id, or its node's: every
        visit); with ``strict``, a STAGE that names none is an error."""
        stages: list[dict[str, Any]] = plain(list(self.client.list_stages(self.run_id)))
        if self.stage is None:
            return stages
        chosen = [s for s in stages if self.stage in (s.get("id"), s.get("dot_id"))]
        if strict and not chosen:
            known = ", ".join(str(s.get("id")) for s in stages) or "none yet"
            raise NoSuchStage(f"no stage '{self.stage}' in run {self.run_id} (stages: {known})")
        return chosen

    def _sizes(self, sid: str) -> dict[str, int]:
        """The stage's artifact sizes by name; a stage without files (a pending or terminal
        node's) may have no listing."""
        try:
            return {a.name: a.size for a in self.client.list_artifacts(self.run_id, sid)}
        except NotFoundError:
            return {}

    def sweep(self, *, strict: bool = True) -> bool:
        """Print what is new in every chosen artifact; True when anything was printed."""
        printed = False
        for stage in self.stages(strict=strict):
            sid = str(stage.get("id"))
            if sid in self.swept:
                continue
            finished = stage.get("status") in FINISHED_STAGES
            sizes = self._sizes(sid)
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
        sid = str(artifact.stage["id"])
        if artifact.offset == 0 and self.tail is not None:
            part = self.client.read_artifact(self.run_id, sid, artifact.name, tail=self.tail)
            data = part.data
            # The tail ends where the file ended when it was read, which the server says.
            artifact.offset = part.size if part.size >= 0 else size
        else:
            try:
                part = self.client.read_artifact(
                    self.run_id, sid, artifact.name, start=artifact.offset
                )
            except RangeNotSatisfiableError:  # nothing after the offset after all
                return False
            data = part.data
            if not part.partial:  # the whole file: skip what was printed already
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
    client: FabroClient,
    out: TextIO,
    run_id: str,
    *,
    stage: str | None,
    names: Sequence[str],
    tail: int | None,
    follow: bool,
) -> int:
    reader = LogReader(client, run_id, out, stage=stage, names=names or LOG_ARTIFACTS, tail=tail)
    reader.run()  # a missing run is a 404 before anything else
    if follow:
        reader.follow()
    else:
        reader.sweep()
        reader.finish()
    return 0
