"""The agent tools of engine.md §9.2: shell, read_file, write_file, list_files.

Every path is resolved against the run's working directory with symlinks resolved, and one
that lands outside it is refused. The shell tool is not a sandbox: a command runs with the
server's privileges, like a command node.

Whatever a tool returns is cleaned (made storable and redacted) before the model, the events
or the stored turns see it; whatever goes wrong in a tool (a bad argument, an odd file name,
an OS error) is a tool error the model sees, never a failure of the stage.
"""

from __future__ import annotations

import asyncio
import codecs
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fabro.config import DEFAULT_COMMAND_ENV
from fabro.engine.effects import require
from fabro.engine.handlers.command import command_env, program, run_process
from fabro.events.redact import Redactor, StreamRedactor
from fabro.governance.actions import Action, ActionKind
from fabro.governance.describe import file_action, shell_action
from fabro.llm.provider import ToolSpec

SHELL_TIMEOUT_S = 120
SHELL_MAX_TIMEOUT_S = 600
OUTPUT_TAIL = 32_000
READ_LIMIT_LINES = 2000
LIST_DEPTH = 2
LIST_MAX_DEPTH = 5
LIST_MAX_ENTRIES = 1000


@dataclass(frozen=True)
class ToolContext:
    """What a tool may use: the working directory and the command environment's inputs."""

    work_dir: Path
    env: Mapping[str, str]
    run_id: str
    node_id: str
    run_dir: Path | None = None  # where running programs are recorded (engine/orphans.py)
    env_allowlist: tuple[str, ...] = DEFAULT_COMMAND_ENV
    redactor: Redactor = field(default_factory=Redactor)  # the run's
    secrets: Mapping[str, str] = field(default_factory=dict)  # the stage's (secrets="A, B")


@dataclass(frozen=True)
class ToolResult:
    output: str
    is_error: bool = False
    written: str | None = None  # a path written by write_file (files_touched)


ToolFn = Callable[[ToolContext, dict[str, Any]], Awaitable[ToolResult]]


@dataclass(frozen=True)
class Tool:
    spec: ToolSpec
    run: ToolFn


class ToolError(Exception):
    """A tool call that cannot be carried out; its message is the tool's error result."""


def confine(ctx: ToolContext, raw: str) -> Path:
    """The path ``raw`` names, resolved; ToolError when it is outside the working directory."""
    if "\0" in raw:
        raise ToolError(f"Path contains a NUL byte: {raw!r}")
    root = ctx.work_dir.resolve()
    # An absolute ``raw`` replaces root; resolve() follows every symlink on the way.
    path = (root / raw).resolve()
    if path != root and root not in path.parents:
        raise ToolError(f"Path is outside the working directory: {raw}")
    return path


def _relative(ctx: ToolContext, path: Path) -> str:
    return path.relative_to(ctx.work_dir.resolve()).as_posix() or "."


def _string(args: Mapping[str, Any], name: str, default: str | None = None) -> str:
    value = args.get(name, default)
    if value is None:
        raise ToolError(f"Missing required argument: {name}")
    if not isinstance(value, str):
        raise ToolError(f"Argument '{name}' must be a string")
    return value


def _integer(args: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = args.get(name, default)
    if value is None:
        value = default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ToolError(f"Argument '{name}' must be an integer")
    return min(max(value, low), high)


async def run_tool(
    tools: Mapping[str, Tool], name: str, ctx: ToolContext, args: dict[str, Any]
) -> ToolResult:
    """Run one tool call, its result cleaned; a ToolError, an OS error or a value the OS
    refuses (a NUL byte, text UTF-8 cannot encode) is an error result, never an exception.

    Only inside a tool side effect (effects.py): OutsideSideEffect otherwise, a handler bug."""
    require("a tool call", "tool")
    result = await _run(tools, name, ctx, args)
    output = ctx.redactor.clean(result.output)
    if output is result.output:
        return result
    return ToolResult(output, result.is_error, result.written)


async def _run(
    tools: Mapping[str, Tool], name: str, ctx: ToolContext, args: dict[str, Any]
) -> ToolResult:
    tool = tools.get(name)
    if tool is None:
        return ToolResult(f"Unknown tool: {name}", is_error=True)
    try:
        return await tool.run(ctx, args)
    except ToolError as exc:
        return ToolResult(str(exc), is_error=True)
    except OSError as exc:
        return ToolResult(f"{exc.strerror or type(exc).__name__}: {exc.filename}", is_error=True)
    except ValueError as exc:  # UnicodeError too: a lone surrogate in a path or a content
        return ToolResult(f"Invalid argument: {exc}", is_error=True)


FILE_TOOL_KINDS: dict[str, ActionKind] = {
    "write_file": "file_write",
    "read_file": "file_read",
    "list_files": "file_read",
}


def tool_action(name: str, args: Mapping[str, Any], work_dir: Path) -> Action | None:
    """What a tool call would do on the host, as the policy sees it; None when the call can
    do nothing there (an unknown tool, a malformed argument: the tool answers an error)."""
    if name == "shell":
        command = args.get("command")
        return shell_action(command) if isinstance(command, str) else None
    kind = FILE_TOOL_KINDS.get(name)
    raw = args.get("path", "." if name == "list_files" else None)
    if kind is None or not isinstance(raw, str) or "\0" in raw:
        return None
    # The path as the tool resolves it, spelled out without touching the file system.
    return file_action(kind, os.path.normpath(os.path.join(work_dir, raw)))


# ---- shell -------------------------------------------------------------------------------


class _Tail:
    """Keeps the end of a stream, decoded and redacted as it comes: cutting it can never
    leave a part of a secret that redaction would no longer recognise."""

    def __init__(self, redactor: Redactor) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.stream = StreamRedactor(redactor, lines=True)
        self.data = ""

    def add(self, chunk: bytes) -> None:
        self._keep(self.stream.feed(self.decoder.decode(chunk)))

    def _keep(self, text: str) -> None:
        self.data += text
        if len(self.data) > 2 * OUTPUT_TAIL:
            self.data = self.data[-OUTPUT_TAIL:]

    def text(self) -> str:
        self._keep(self.stream.feed(self.decoder.decode(b"", final=True)))
        self._keep(self.stream.close())
        return self.data[-OUTPUT_TAIL:]


async def shell(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    command = _string(args, "command")
    timeout_s = _integer(args, "timeout_s", SHELL_TIMEOUT_S, 1, SHELL_MAX_TIMEOUT_S)
    out, err = _Tail(ctx.redactor), _Tail(ctx.redactor)
    exit_code = await run_process(
        program("shell", command),
        cwd=ctx.work_dir,
        env=command_env(
            ctx.env, ctx.env_allowlist, ctx.run_id, ctx.node_id, ctx.work_dir, ctx.secrets
        ),
        out=out,
        err=err,
        timeout_s=timeout_s,
        run_dir=ctx.run_dir,
    )
    timed_out = exit_code is None
    status = f"-1 (timed out after {timeout_s}s)" if timed_out else str(exit_code)
    text = f"exit_code: {status}\n--- stdout ---\n{out.text()}\n--- stderr ---\n{err.text()}"
    return ToolResult(text, is_error=exit_code != 0)


# ---- files -------------------------------------------------------------------------------


async def read_file(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    raw = _string(args, "path")
    offset = _integer(args, "offset", 1, 1, 2**31)
    limit = _integer(args, "limit", READ_LIMIT_LINES, 1, 2**31)
    path = confine(ctx, raw)
    return await asyncio.to_thread(_read, path, raw, offset, limit)


def _read(path: Path, raw: str, offset: int, limit: int) -> ToolResult:
    if not path.exists():
        raise ToolError(f"File not found: {raw}")
    if not path.is_file():
        raise ToolError(f"Not a file: {raw}")
    data = path.read_bytes()
    if b"\0" in data:
        raise ToolError(f"Binary file: {raw}")
    lines = data.decode("utf-8", errors="replace").splitlines(keepends=True)
    return ToolResult("".join(lines[offset - 1 : offset - 1 + limit]))


async def write_file(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    raw = _string(args, "path")
    content = _string(args, "content")
    path = confine(ctx, raw)
    data = content.encode("utf-8")
    await asyncio.to_thread(_write, path, raw, data)
    return ToolResult(f"Wrote {len(data)} bytes to {raw}", written=_relative(ctx, path))


def _write(path: Path, raw: str, data: bytes) -> None:
    if path.is_dir():
        raise ToolError(f"Is a directory: {raw}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


async def list_files(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    raw = _string(args, "path", ".")
    depth = _integer(args, "depth", LIST_DEPTH, 1, LIST_MAX_DEPTH)
    path = confine(ctx, raw)
    return await asyncio.to_thread(_list, ctx, path, raw, depth)


def _list(ctx: ToolContext, folder: Path, raw: str, depth: int) -> ToolResult:
    if not folder.is_dir():
        raise ToolError(f"Not a directory: {raw}")
    root = ctx.work_dir.resolve()
    entries: list[str] = []
    # Walk a bounded number of entries, then sort: the output is sorted as a whole.
    budget = LIST_MAX_ENTRIES * 20
    pending = [(folder, 1)]
    while pending and len(entries) < budget:
        current, level = pending.pop()
        try:
            children = list(os.scandir(current))
        except OSError:
            continue
        for child in children:
            if child.name == ".git":
                continue
            # Symlinked folders are listed, not entered: they may lead outside.
            is_dir = child.is_dir(follow_symlinks=False)
            name = Path(child.path).relative_to(root).as_posix()
            entries.append(name + "/" if is_dir else name)
            if is_dir and level < depth:
                pending.append((Path(child.path), level + 1))
    entries.sort()
    text = "\n".join(entries[:LIST_MAX_ENTRIES])
    if len(entries) > LIST_MAX_ENTRIES:
        text += f"\n[... listing cut at {LIST_MAX_ENTRIES} entries]"
    return ToolResult(text)


def _schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


AGENT_TOOLS: dict[str, Tool] = {
    tool.spec.name: tool
    for tool in (
        Tool(
            ToolSpec(
                "shell",
                "Run a bash command in the working directory; returns the exit code, stdout "
                "and stderr (each cut to its last 32,000 characters).",
                _schema(
                    {
                        "command": {"type": "string", "description": "The command to run."},
                        "timeout_s": {
                            "type": "integer",
                            "description": "Seconds before the command is killed "
                            "(default 120, max 600).",
                        },
                    },
                    ["command"],
                ),
            ),
            shell,
        ),
        Tool(
            ToolSpec(
                "read_file",
                "Read a text file of the working directory.",
                _schema(
                    {
                        "path": {"type": "string", "description": "Relative file path."},
                        "offset": {"type": "integer", "description": "First line (1-based)."},
                        "limit": {"type": "integer", "description": "Lines (default 2000)."},
                    },
                    ["path"],
                ),
            ),
            read_file,
        ),
        Tool(
            ToolSpec(
                "write_file",
                "Write a file of the working directory (parent folders are created).",
                _schema(
                    {
                        "path": {"type": "string", "description": "Relative file path."},
                        "content": {"type": "string", "description": "The whole new content."},
                    },
                    ["path", "content"],
                ),
            ),
            write_file,
        ),
        Tool(
            ToolSpec(
                "list_files",
                "List files under a folder of the working directory, sorted; folders end with '/'.",
                _schema(
                    {
                        "path": {"type": "string", "description": "Folder (default '.')."},
                        "depth": {"type": "integer", "description": "Levels (default 2, max 5)."},
                    },
                    [],
                ),
            ),
            list_files,
        ),
    )
}
