"""`fabro runs start --follow`: a server run's live progress, and its gates answered here.

Progress is drawn by `fabro run`'s own display (fabro.standalone.progress) from the run's event
stream. When a gate opens (InterviewStarted), its pending questions are read over the API and
asked on stderr; each answer is one line of stdin (a terminal or a pipe) and is posted to the
questions API. If stdin ends before a gate is answered, the CLI stops following and the run
keeps waiting on the server, where anyone may answer it (exit 3).
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from fabro.client.answers import NoSuchOption, answer_body, options_of
from fabro.client.api import plain, run_status
from fabro.client.errors import ConflictError
from fabro.client.sdk import AsyncFabroClient
from fabro.clock import parse_ts
from fabro.exit_codes import DETACHED, FAILED, INTERRUPTED, SUCCESS
from fabro.standalone.progress import Progress, elapsed
from fabro.storage.records import EventRecord


class StdinLines:
    """Lines of a stream read by a daemon thread, so that a read blocked on a terminal never
    holds up the exit (Ctrl-C at a prompt leaves at once)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._lines: asyncio.Queue[str | None] | None = None

    def _pump(self, loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]) -> None:
        def hand(line: str | None) -> None:
            try:
                loop.call_soon_threadsafe(lines.put_nowait, line)
            except RuntimeError:  # the loop is closed: nobody is reading any more
                pass

        try:
            for line in self.stream:
                hand(line)
        except (OSError, ValueError):
            pass
        hand(None)

    async def readline(self) -> str | None:
        """The next line without its end, or None at the end of input."""
        if self._lines is None:
            self._lines = asyncio.Queue()
            loop = asyncio.get_running_loop()
            threading.Thread(
                target=self._pump, args=(loop, self._lines), name="stdin", daemon=True
            ).start()
        line = await self._lines.get()
        if line is None:
            self._lines.put_nowait(None)  # stays at the end for later reads
            return None
        return line.rstrip("\r\n")


class Detached(Exception):
    """stdin ended while a gate waited for an answer."""


@dataclass
class Gates:
    """Asks a run's pending questions at the terminal, each one once."""

    client: AsyncFabroClient
    run_id: str
    progress: Progress
    stdin: StdinLines
    interactive: bool
    asked: set[str] = field(default_factory=set)

    async def ask_pending(self) -> None:
        pending = [plain(q) async for q in self.client.list_questions(self.run_id)]
        for question in pending:
            if question.get("id") not in self.asked:
                self.asked.add(str(question.get("id")))
                await self._ask(question)

    async def _ask(self, question: Mapping[str, Any]) -> None:
        await self.progress.stop()  # the live line must not redraw over the prompt
        err = self.progress.stream
        lines = [f"? {question.get('text', '')}"]
        lines += [f"  {option.get('label') or option['key']}" for option in options_of(question)]
        if question.get("allow_freeform"):
            lines.append("  (or type an answer)")
        err.write("\n".join(lines) + "\n")
        while True:
            err.write("> ")
            err.flush()
            line = await self.stdin.readline()
            if line is None:
                err.write("\n")
                raise Detached(str(question.get("id")))
            if not self.interactive:
                err.write(line + "\n")  # a piped answer shows in the log like a typed one
            if not line.strip():
                continue
            try:
                body = answer_body(question, line)
            except NoSuchOption as exc:
                err.write(f"{exc}\n")
                continue
            break
        await self._post(question, body)
        self.progress.start()

    async def _post(self, question: Mapping[str, Any], body: dict[str, Any]) -> None:
        qid = str(question.get("id"))
        try:
            await self.client.answer_question(
                self.run_id,
                qid,
                option=body.get("selected_option_key"),
                value=body.get("value"),
            )
        except ConflictError as exc:  # answered elsewhere meanwhile, or timed out
            self.progress.message(f"{qid} was not taken: {exc.detail}")


@dataclass
class Follow:
    """One `--follow`: stream, draw, ask; the exit status from the run's final state."""

    connect: Callable[[], AsyncFabroClient]
    run_id: str
    err: TextIO
    out: TextIO
    stdin: TextIO
    verbose: bool = False
    as_json: bool = False

    async def main(self) -> int:
        progress = Progress(self.err, verbose=self.verbose)
        started = time.monotonic()
        async with self.connect() as client:
            gates = Gates(
                client, self.run_id, progress, StdinLines(self.stdin), _interactive(self.stdin)
            )
            progress.start()
            try:
                run = await self._follow(client, gates, progress)
            except Detached as exc:
                await progress.stop()
                self.err.write(
                    f"stdin ended before {exc} was answered; the run waits on the server.\n"
                    f"Answer it with: fabro runs answer {self.run_id} {exc} --option-key KEY\n"
                )
                return DETACHED
            finally:
                await progress.stop()
        return self._finish(run, time.monotonic() - started)

    async def _follow(
        self, client: AsyncFabroClient, gates: Gates, progress: Progress
    ) -> dict[str, Any]:
        """Draw every event until the stream has no more (the SDK reconnects across dropped
        connections and server restarts), then read the run's final state."""
        async for event in client.stream_run_events(self.run_id):
            progress(EventRecord(self.run_id, event.seq, "", event.variant, event.payload))
            if event.variant == "InterviewStarted":
                await gates.ask_pending()
        run: dict[str, Any] = plain(await client.get_run(self.run_id))
        return run

    def _finish(self, run: dict[str, Any], followed_s: float) -> int:
        if self.as_json:
            self.out.write(json.dumps(run) + "\n")
            self.out.flush()
        status, took = run_status(run), elapsed(_run_seconds(run, followed_s))
        if status == "completed":
            self.err.write(f"Run completed in {took} ({self.run_id})\n")
            return SUCCESS
        if status == "failed":
            message = (run.get("error") or {}).get("message") or "no error message"
            self.err.write(f"Run failed in {took}: {message} ({self.run_id})\n")
            return FAILED
        self.err.write(f"Run {status} after {took} ({self.run_id})\n")
        return INTERRUPTED


def _run_seconds(run: Mapping[str, Any], fallback: float) -> float:
    """How long the run took by its own timestamps (else how long it was followed)."""
    try:
        start = parse_ts(str(run.get("started_at") or run["created_at"]))
        end = parse_ts(str(run["finished_at"]))
    except (KeyError, ValueError):
        return fallback
    return max((end - start).total_seconds(), 0.0)


def _interactive(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def follow_run(
    connect: Callable[[], AsyncFabroClient],
    run_id: str,
    *,
    verbose: bool = False,
    as_json: bool = False,
    err: TextIO | None = None,
    out: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int:
    """Follow a run to its end over the client ``connect`` opens; the exit status (cli exit
    codes). Ctrl-C stops following."""
    err = err or sys.stderr
    follow = Follow(connect, run_id, err, out or sys.stdout, stdin or sys.stdin, verbose, as_json)
    try:
        return asyncio.run(follow.main())
    except KeyboardInterrupt:
        err.write(
            f"\nStopped following; the run goes on: fabro runs show {run_id} "
            f"(or fabro runs cancel {run_id})\n"
        )
        err.flush()
        return INTERRUPTED
