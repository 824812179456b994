"""A stage's folder on disk, read safely: its files, one file by name, a byte range, a tail.

The folder is `<run_dir>/nodes/<stage_id>/` (engine.md §4.1). Names come from requests, so a
name is resolved and must stay inside the folder (no `..`, no absolute path, no link out), and
a file is only ever read in bounded pieces: an artifact is as large as a program's output.
Everything here blocks on the file system: the server calls it through ``asyncio.to_thread``.
"""

from __future__ import annotations

import codecs
import os
import stat
from dataclasses import dataclass
from pathlib import Path

MAX_FILES = 10_000  # a listing stops here: a stage folder holds a handful of files
CHUNK = 64 * 1024
SNIFF_BYTES = 8 * 1024  # how much of a file decides whether it is text
MAX_TAIL_BYTES = 1024 * 1024  # a tail never reaches further back than this
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC


def stage_dir(run_dir: Path, stage_id: str) -> Path:
    """The folder of ``stage_id``'s artifacts in the run folder ``run_dir``."""
    return run_dir / "nodes" / stage_id


@dataclass(frozen=True)
class ArtifactInfo:
    name: str  # relative to the stage folder, `/`-separated
    size: int
    modified: float  # seconds since the epoch


def list_artifacts(folder: Path, limit: int = MAX_FILES) -> list[ArtifactInfo]:
    """The regular files under ``folder`` at any depth, sorted by name (links are skipped)."""
    found: list[ArtifactInfo] = []
    pending = [("", os.fspath(folder))]
    while pending and len(found) < limit:
        prefix, path = pending.pop()
        try:
            with os.scandir(path) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append((f"{prefix}{entry.name}/", entry.path))
                    elif entry.is_file(follow_symlinks=False) and len(found) < limit:
                        info = entry.stat(follow_symlinks=False)
                        found.append(ArtifactInfo(prefix + entry.name, info.st_size, info.st_mtime))
        except OSError:
            continue  # no folder (a stage that wrote nothing), or gone meanwhile
    return sorted(found, key=lambda item: item.name)


def resolve_artifact(folder: Path, name: str) -> Path | None:
    """The file ``name`` names inside ``folder``, or None when it names nothing there.

    Resolved first (links included), then required to be inside the resolved folder, so
    neither `..`, an absolute path nor a link pointing out ever reaches a file outside it.
    """
    parts = name.split("/")
    if "\x00" in name or any(part in ("", ".", "..") for part in parts):
        return None
    try:
        root = folder.resolve(strict=True)
        target = root.joinpath(*parts).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, a link loop, a name too long
        return None
    if not target.is_relative_to(root) or not target.is_file():
        return None
    return target


class Artifact:
    """One open artifact file: its size when opened, whether it is text, reads by offset."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.size = 0
        self.is_text = True

    @classmethod
    def open(cls, folder: Path, name: str) -> Artifact | None:
        """Open ``name`` inside ``folder`` (see resolve_artifact); None when there is none."""
        target = resolve_artifact(folder, name)
        if target is None:
            return None
        try:
            # No link is followed at the last step: what was checked is what is opened.
            artifact = cls(os.open(target, _OPEN_FLAGS))
        except OSError:
            return None
        try:
            info = os.fstat(artifact.fd)
            if not stat.S_ISREG(info.st_mode):
                artifact.close()
                return None
            artifact.size = info.st_size
            artifact.is_text = _looks_like_text(artifact.read(0, min(info.st_size, SNIFF_BYTES)))
        except BaseException:
            artifact.close()
            raise
        return artifact

    def read(self, start: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``start`` (fewer only at the end of the file)."""
        pieces: list[bytes] = []
        while length > 0:
            piece = os.pread(self.fd, min(length, CHUNK), start)
            if not piece:
                break
            pieces.append(piece)
            start += len(piece)
            length -= len(piece)
        return b"".join(pieces)

    def tail_start(self, lines: int, max_bytes: int = MAX_TAIL_BYTES) -> int:
        """Where the last ``lines`` lines begin (a final newline ends the last line, as in
        `tail -n`); never more than ``max_bytes`` before the end, at a line start if it can."""
        end = self.size
        floor = max(end - max_bytes, 0)
        pos = end - 1 if end and self.read(end - 1, 1) == b"\n" else end
        earliest = -1  # the first newline seen in [floor, pos)
        while pos > floor:
            block_start = max(pos - CHUNK, floor)
            block = self.read(block_start, pos - block_start)
            index = len(block)
            while (index := block.rfind(b"\n", 0, index)) >= 0:
                lines -= 1
                if lines == 0:
                    return block_start + index + 1
                earliest = block_start + index
            pos = block_start
        if floor == 0:
            return 0
        return earliest + 1 if earliest >= 0 else floor

    def close(self) -> None:
        """Close the file (safe to call twice)."""
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)

    def __del__(self) -> None:
        # A response abandoned before its body was sent never closes its file otherwise.
        self.close()


def _looks_like_text(head: bytes) -> bool:
    """UTF-8 without NUL bytes (a character cut at the end of ``head`` still counts)."""
    if b"\x00" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


class RangeError(Exception):
    """A Range header that is not one byte range (400)."""


class Unsatisfiable(Exception):
    """A byte range that lies outside the file (416)."""


def parse_range(header: str, size: int) -> tuple[int, int]:
    """The (first, last) byte positions of ``bytes=a-b``, ``bytes=a-`` or ``bytes=-n``.

    RFC 9110 §14.1.2: ``last`` is clipped to the file; a suffix longer than the file means
    the whole file. RangeError when the header is not one such range, Unsatisfiable when
    the range starts past the end (or the file is empty).
    """
    unit, _, spec = header.strip().partition("=")
    first, dash, last = spec.strip().partition("-")
    digits = (first + last).isascii() and all(
        not part or (part.isdigit() and len(part) <= 18) for part in (first, last)
    )
    if unit.strip().lower() != "bytes" or not dash or not digits or not (first or last):
        raise RangeError(header)
    if not first:  # the last n bytes
        count = int(last)
        if count == 0 or size == 0:
            raise Unsatisfiable(header)
        return max(size - count, 0), size - 1
    start = int(first)
    if last and int(last) < start:
        raise RangeError(header)
    if start >= size:
        raise Unsatisfiable(header)
    return start, min(int(last), size - 1) if last else size - 1
