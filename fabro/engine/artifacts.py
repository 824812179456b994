"""Stage artifacts written off the event loop.

Artifact files (prompt.md, response.md, ...) are a convenience for people, not part of the
durable state (that is SQLite), so they are written by one background thread in order while
the engine goes on, handed over in batches (at most BATCH_S late); a run flushes them when it
ends, before it counts them.

The thread is started on demand and ends after a moment without work (it is not a daemon:
the interpreter waits for queued artifacts before it exits). No artifact can stop it: one
that cannot be written is reported to its writer's ``on_error`` (on the event loop that
queued it) and logged, and the thread goes on with the next. Each file costs the fewest system
calls: an open that creates it, and a folder only when that open finds none (a stage's first).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import queue
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

from fabro.events.storable import storable

log = logging.getLogger(__name__)

IDLE_S = 0.2  # the thread ends after this long without work
BATCH_S = 0.05  # artifacts queued on the event loop reach the thread at most this late


OnError = Callable[[str], None]  # called with the reason an artifact was not written


def _write(path: str, text: str) -> str | None:
    """Write one artifact; the reason it could not be written, else None."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
    try:
        data = storable(text).encode("utf-8")  # text that skipped an entry boundary
        try:
            fd = os.open(path, flags, 0o666)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(path, flags, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
    except OSError as exc:
        log.warning("cannot write artifact %s: %s", path, exc.strerror or exc)
        return str(exc.strerror or exc)
    except Exception as exc:  # a bug must cost one artifact, never the thread
        log.exception("cannot write artifact %s", path)
        return f"internal error: {type(exc).__name__}"
    return None


def count_files(folder: str | os.PathLike[str]) -> int:
    """The files under ``folder``, at any depth (0 when it does not exist).

    One scandir per folder and no stat: the kind of each entry comes with the listing (and
    links are not followed), unlike os.walk, which stats every folder it enters.
    """
    total = 0
    pending = [os.fspath(folder)]
    while pending:
        try:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                    elif not entry.is_dir():  # a link to a folder is neither entered nor counted
                        total += 1
        except OSError:
            continue  # gone meanwhile, or not a folder
    return total


def _run_all(jobs: list[Callable[[], None]]) -> None:
    for job in jobs:
        try:
            job()
        except Exception:  # one bad item stops neither the thread nor the items after it
            log.exception("artifact job failed")


def _report(loop: asyncio.AbstractEventLoop | None, on_error: OnError, reason: str) -> None:
    """Call ``on_error`` on the loop that queued the artifact (in this thread without one)."""
    if loop is None:
        on_error(reason)
        return
    try:
        loop.call_soon_threadsafe(on_error, reason)
    except RuntimeError:  # the loop is closed: nobody is left to tell
        pass


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class ArtifactWriter:
    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running = False
        # Jobs queued on the event loop are handed to the thread in batches, at most BATCH_S
        # later (flush hands them over at once): a wake-up per artifact would cost the engine
        # more than writing it.
        self._held: deque[Callable[[], None]] = deque()
        self._wake_loop: asyncio.AbstractEventLoop | None = None  # where a wake is scheduled

    def write(self, path: Path | str, text: str, on_error: OnError | None = None) -> None:
        """Queue ``text`` to be written to ``path`` (UTF-8), creating its folder if needed;
        ``on_error`` is told why, if it cannot be (before a later ``flush`` returns)."""
        file = os.fspath(path)
        loop: asyncio.AbstractEventLoop | None = None
        if on_error is not None:
            with contextlib.suppress(RuntimeError):
                loop = asyncio.get_running_loop()

        def job() -> None:
            reason = _write(file, text)
            if reason is not None and on_error is not None:
                _report(loop, on_error, reason)

        self._submit(job)

    async def flush(self) -> None:
        """Wait until every artifact submitted so far is on disk."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def mark() -> None:
            try:
                loop.call_soon_threadsafe(_set_done, done)
            except RuntimeError:  # the loop is closed
                pass

        self._submit(mark)
        self._wake()
        await done

    def _submit(self, job: Callable[[], None]) -> None:
        self._held.append(job)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._wake()
            return
        if self._wake_loop is not loop:
            self._wake_loop = loop
            loop.call_later(BATCH_S, self._wake)

    def _wake(self) -> None:
        self._wake_loop = None
        if not self._held:
            return
        held = list(self._held)
        self._held.clear()
        with self._lock:
            self._jobs.put(functools.partial(_run_all, held))
            if not self._running:
                self._running = True
                threading.Thread(target=self._serve, name="fabro-artifacts").start()

    def _serve(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=IDLE_S)
            except queue.Empty:
                with self._lock:
                    if self._jobs.empty():
                        self._running = False
                        return
                continue
            job()
