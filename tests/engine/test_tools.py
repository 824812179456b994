"""The agent tools (engine.md §9.2): arguments, results, limits and the working-directory fence."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from fabro.engine.effects import SideEffect
from fabro.engine.tools import AGENT_TOOLS, OUTPUT_TAIL, ToolContext, ToolResult, run_tool


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    work = tmp_path / "work"
    work.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "OPENAI_API_KEY": "sk-secret-value"}
    return ToolContext(work, env, "RUN1", "build")


async def call(ctx: ToolContext, name: str, **args: Any) -> ToolResult:
    async with SideEffect("tool", name):  # as the agent handler calls it
        return await run_tool(AGENT_TOOLS, name, ctx, args)


def test_the_four_tools_and_their_schemas() -> None:
    assert list(AGENT_TOOLS) == ["shell", "read_file", "write_file", "list_files"]
    required = {name: tool.spec.parameters["required"] for name, tool in AGENT_TOOLS.items()}
    assert required == {
        "shell": ["command"],
        "read_file": ["path"],
        "write_file": ["path", "content"],
        "list_files": [],
    }
    assert set(AGENT_TOOLS["shell"].spec.parameters["properties"]) == {"command", "timeout_s"}
    assert set(AGENT_TOOLS["read_file"].spec.parameters["properties"]) == {
        "path",
        "offset",
        "limit",
    }
    assert set(AGENT_TOOLS["list_files"].spec.parameters["properties"]) == {"path", "depth"}


async def test_write_then_read(ctx: ToolContext) -> None:
    result = await call(ctx, "write_file", path="src/deep/a.txt", content="héllo\nworld\n")
    assert result == ToolResult("Wrote 13 bytes to src/deep/a.txt", written="src/deep/a.txt")
    assert (ctx.work_dir / "src/deep/a.txt").read_text() == "héllo\nworld\n"
    assert (await call(ctx, "read_file", path="src/deep/a.txt")).output == "héllo\nworld\n"


async def test_read_offset_and_limit(ctx: ToolContext) -> None:
    (ctx.work_dir / "n.txt").write_text("".join(f"{i}\n" for i in range(1, 3001)))
    assert (await call(ctx, "read_file", path="n.txt", offset=2, limit=3)).output == "2\n3\n4\n"
    whole = (await call(ctx, "read_file", path="n.txt")).output
    assert whole.splitlines()[-1] == "2000"  # default limit: 2000 lines


async def test_read_errors(ctx: ToolContext) -> None:
    (ctx.work_dir / "bin").write_bytes(b"ab\0cd")
    assert await call(ctx, "read_file", path="missing") == ToolResult(
        "File not found: missing", is_error=True
    )
    assert await call(ctx, "read_file", path="bin") == ToolResult("Binary file: bin", is_error=True)
    assert await call(ctx, "read_file") == ToolResult(
        "Missing required argument: path", is_error=True
    )
    assert (await call(ctx, "read_file", path="n", offset="x")).is_error


@pytest.mark.parametrize("tool", ["read_file", "write_file", "list_files"])
@pytest.mark.parametrize("path", ["../escape.txt", "/etc/passwd", "a/../../escape.txt"])
async def test_paths_outside_the_working_directory_are_refused(
    ctx: ToolContext, tool: str, path: str
) -> None:
    result = await call(ctx, tool, path=path, content="x")
    assert result == ToolResult(f"Path is outside the working directory: {path}", is_error=True)
    assert not (ctx.work_dir.parent / "escape.txt").exists()


async def test_symlinks_out_of_the_working_directory_are_refused(
    ctx: ToolContext, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (ctx.work_dir / "link").symlink_to(outside)
    (ctx.work_dir / "file-link").symlink_to(outside / "secret.txt")
    for tool, path in [
        ("read_file", "link/secret.txt"),
        ("read_file", "file-link"),
        ("write_file", "link/new.txt"),
        ("write_file", "file-link"),
        ("list_files", "link"),
    ]:
        result = await call(ctx, tool, path=path, content="x")
        assert result.output == f"Path is outside the working directory: {path}", tool
    assert (outside / "secret.txt").read_text() == "secret"
    assert not (outside / "new.txt").exists()


async def test_absolute_path_inside_is_fine(ctx: ToolContext) -> None:
    target = ctx.work_dir / "abs.txt"
    assert not (await call(ctx, "write_file", path=str(target), content="ok")).is_error
    assert target.read_text() == "ok"


async def test_list_files(ctx: ToolContext) -> None:
    for name in ("src/app.py", "src/lib/util.py", "src/lib/deep/x.py", "README.md", ".git/HEAD"):
        path = ctx.work_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    listing = (await call(ctx, "list_files")).output
    assert listing.splitlines() == ["README.md", "src/", "src/app.py", "src/lib/"]
    deep = (await call(ctx, "list_files", path="src", depth=9)).output
    assert deep.splitlines() == [
        "src/app.py",
        "src/lib/",
        "src/lib/deep/",
        "src/lib/deep/x.py",
        "src/lib/util.py",
    ]
    assert (await call(ctx, "list_files", path="README.md")).is_error


async def test_list_files_stops_at_1000_entries(ctx: ToolContext) -> None:
    for i in range(1005):
        (ctx.work_dir / f"f{i:04d}").write_text("")
    lines = (await call(ctx, "list_files")).output.splitlines()
    assert len(lines) == 1001 and lines[999] == "f0999"
    assert lines[-1] == "[... listing cut at 1000 entries]"


async def test_shell_runs_in_the_working_directory_with_the_command_env(
    ctx: ToolContext,
) -> None:
    result = await call(
        ctx, "shell", command='pwd; echo "$FABRO_NODE_ID ${OPENAI_API_KEY:-unset}"; echo oops >&2'
    )
    assert result == ToolResult(
        f"exit_code: 0\n--- stdout ---\n{ctx.work_dir}\nbuild unset\n\n--- stderr ---\noops\n"
    )


async def test_shell_failure_and_output_tail(ctx: ToolContext) -> None:
    result = await call(ctx, "shell", command="head -c 40000 /dev/zero | tr '\\0' a; exit 3")
    assert result.is_error
    head, stdout = result.output.split("\n--- stdout ---\n")
    assert head == "exit_code: 3"
    assert stdout.split("\n--- stderr ---\n")[0] == "a" * OUTPUT_TAIL


async def test_shell_timeout_kills_the_process_group(ctx: ToolContext) -> None:
    result = await call(ctx, "shell", command="sleep 30 & sleep 30", timeout_s=1)
    assert result.is_error
    assert result.output.startswith("exit_code: -1 (timed out after 1s)")


async def test_unknown_tool(ctx: ToolContext) -> None:
    assert await call(ctx, "rm_rf") == ToolResult("Unknown tool: rm_rf", is_error=True)
