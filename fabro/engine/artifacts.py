"""Stage artifacts written off the event loop.

Artifact files (prompt.md, response.md, ...) are a convenience for people, not part of the
durable state (that is SQLite), so they are written by one background thread in order while
the engine goes on; the run flushes them before it counts them at the end.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

log = logging.getLogger(__name__)


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        log.warning("cannot write artifact %s: %s", path, exc.strerror or exc)


class ArtifactWriter:
    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fabro-artifacts")
        self._pending: set[Future[None]] = set()

    def write(self, path: Path, text: str) -> None:
        future = self._executor.submit(_write, path, text)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    async def flush(self) -> None:
        """Wait until every artifact submitted so far is on disk."""
        pending = list(self._pending)
        if pending:
            await asyncio.gather(*(asyncio.wrap_future(future) for future in pending))
