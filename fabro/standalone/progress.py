"""The live progress display of `fabro run` on stderr (cli.md §2)."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TextIO

from fabro.storage.records import EventRecord

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
MAX_LINE = 1000  # characters of one line of a program's output shown
_CSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")  # colours and cursor moves


def printable(line: str, limit: int = MAX_LINE) -> str:
    """A line a program printed, safe for the terminal: colour codes dropped, other control
    characters shown escaped (they could move the cursor or rewrite earlier lines), cut."""
    line = _CSI.sub("", line)
    if len(line) > limit:
        line = line[:limit] + "…"
    return "".join(ch if ch.isprintable() or ch == "\t" else f"\\x{ord(ch):02x}" for ch in line)


def elapsed(seconds: float) -> str:
    """`M:SS` below one hour, `H:MM:SS` above."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Turns stored run events into lines; on a terminal, one redrawn line per running stage."""

    def __init__(self, stream: TextIO, *, tty: bool | None = None, verbose: bool = False) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.color = self.tty and not os.environ.get("NO_COLOR")
        self.verbose = verbose
        self.names: dict[str, str] = {}
        self.running: dict[str, tuple[str, float, str]] = {}  # node -> (label, start, indent)
        self._live = False
        self._ticker: asyncio.Task[None] | None = None
        self._frame = 0
        self.clock: Callable[[], float] = time.monotonic

    # ---- output helpers ----

    def _paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def _clear_live(self) -> None:
        if self._live:
            self.stream.write("\r\x1b[2K")
            self._live = False

    def line(self, text: str) -> None:
        """Print a permanent line (above the live line on a terminal)."""
        self._clear_live()
        if not self.tty:
            text = f"[{datetime.now().strftime('%H:%M:%S')}] {text}"
        self.stream.write(text + "\n")
        self.stream.flush()
        self._draw()

    def message(self, text: str) -> None:
        """Print a line without a timestamp (headers, prompts, the end of the run)."""
        self._clear_live()
        self.stream.write(text + "\n")
        self.stream.flush()

    def _draw(self) -> None:
        if not self.tty or not self.running:
            return
        node, (label, started, indent) = next(reversed(self.running.items()))
        spin = SPINNER[self._frame % len(SPINNER)]
        self.stream.write(
            f"\r\x1b[2K{indent}{spin} {label} ({node})  {elapsed(self.clock() - started)}"
        )
        self.stream.flush()
        self._live = True

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            self._frame += 1
            self._draw()

    def start(self) -> None:
        if self.tty and self._ticker is None:
            self._ticker = asyncio.create_task(self._tick())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            try:
                await self._ticker
            except asyncio.CancelledError:
                pass
            self._ticker = None
        self._clear_live()

    # ---- events ----

    def __call__(self, record: EventRecord) -> None:
        if record.child_depth:
            return
        ((variant, data),) = record.payload.items()
        handler = getattr(self, f"on_{variant}", None)
        if handler is not None and isinstance(data, dict):
            handler(data)

    def _began(self, node: str, label: str, indent: str = "") -> None:
        self.names[node] = label
        self.running[node] = (label, self.clock(), indent)
        if not self.tty:
            self.line(f"{indent}start {node} ({label})")
        else:
            self._draw()

    def _ended(self, node: str, mark: str, status: str, detail: str = "") -> None:
        label, started, indent = self.running.pop(
            node, (self.names.get(node, node), self.clock(), "")
        )
        took = self.clock() - started
        if self.tty:
            suffix = "  (partial)" if status == "partial_success" else ""
            tail = f"  {detail}" if detail else ""
            self.line(f"{indent}{mark} {label} ({node})  {elapsed(took)}{suffix}{tail}")
        elif mark == "✗":
            self.line(f"{indent}fail {node} {took:.1f}s" + (f": {detail}" if detail else ""))
        else:
            self.line(f"{indent}done {node} {status} {took:.1f}s")

    def on_StageStarted(self, data: dict[str, Any]) -> None:  # noqa: N802
        self._began(data["node_id"], data["name"])

    def on_StageCompleted(self, data: dict[str, Any]) -> None:  # noqa: N802
        status = data["status"]
        mark = {"skipped": "↷", "fail": "✗"}.get(status, "✓")
        self._ended(data["node_id"], self._paint(mark, "32") if mark == "✓" else mark, status)

    def on_StageFailed(self, data: dict[str, Any]) -> None:  # noqa: N802
        if data.get("will_retry"):
            return
        message = (str(data["failure"]["message"]).splitlines() or [""])[0]
        self._ended(data["node_id"], "✗", "fail", printable(message, 200))

    def on_StageRetrying(self, data: dict[str, Any]) -> None:  # noqa: N802
        node, attempt, total = data["node_id"], data["attempt"], data["max_attempts"]
        delay = data["delay_ms"] / 1000
        if self.tty:
            self.line(f"↻ {data['name']} ({node})  attempt {attempt}/{total} in {delay:.1f}s")
        else:
            self.line(f"retry {node} attempt {attempt}/{total} in {delay:.1f}s")

    def on_ParallelBranchStarted(self, data: dict[str, Any]) -> None:  # noqa: N802
        self._began(data["branch"], self.names.get(data["branch"], data["branch"]), "  ")

    def on_ParallelBranchCompleted(self, data: dict[str, Any]) -> None:  # noqa: N802
        status = data["status"]
        self._ended(data["branch"], "✗" if status == "fail" else "✓", status)

    def on_RunPaused(self, data: dict[str, Any]) -> None:  # noqa: N802
        self.message("⏸ paused")

    def on_PolicyDecision(self, data: dict[str, Any]) -> None:  # noqa: N802
        action = printable(str(data["action"]).split("\n", 1)[0], 120)
        self.line(f"  policy {data['decision']} {data['kind']} {action}")

    def output(self, stage_id: str, stream: str, text: str) -> None:
        """With --verbose, a command's output as it comes, each line prefixed with its stage
        (the engine hands it over in whole lines, redacted: EngineDeps.output)."""
        if not self.verbose:
            return
        prefix = f"[{stage_id}]" if stream == "stdout" else f"[{stage_id}:{stream}]"
        for line in text.splitlines():
            self.line(f"  {prefix} {printable(line)}")

    def on_Agent(self, data: dict[str, Any]) -> None:  # noqa: N802
        if not self.verbose:
            return
        event = data["event"]
        if isinstance(event, dict) and "ToolCallStarted" in event:
            call = event["ToolCallStarted"]
            self.line(f"    tool {call['tool_name']} {call['arguments']}")
        elif isinstance(event, dict) and "AssistantMessage" in event:
            first = str(event["AssistantMessage"]["text"]).strip().splitlines()[:1]
            if first:
                self.line(f"    {first[0][:120]}")
