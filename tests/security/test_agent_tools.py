"""Finding 10: odd input to an agent tool is a tool error the model sees, never a failed stage.

A NUL byte in a path argument, a lone surrogate in an argument, and a file whose name is not
UTF-8 in the working directory, tried on each tool; then the same through a real agent stage
whose model (a local server speaking the Anthropic protocol) asks for them.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import pytest

from fabro.engine.effects import SideEffect
from fabro.engine.tools import AGENT_TOOLS, ToolContext, ToolResult, run_tool
from fabro.llm.http import HttpRetryPolicy
from fabro.llm.router import Router
from fabro.storage import stages
from tests.engine.harness import Harness
from tests.llm import fake_providers as fp
from tests.llm.fake_providers import ANTHROPIC_PATH, FakeProviders

RAW_NAME = b"\xff\xfe-not-utf8.txt"  # how os.listdir shows it: "\udcff\udcfe-not-utf8.txt"
NUL_PATH = "notes\x00.txt"
LONE = "\ud800"


def work_with_raw_name(work: Path) -> Path:
    """``work`` holding a file whose name is not valid UTF-8 (made through the bytes API)."""
    work.mkdir(parents=True, exist_ok=True)
    fd = os.open(os.path.join(os.fsencode(work), RAW_NAME), os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"raw\n")
    os.close(fd)
    (work / "ok.txt").write_text("ok\n")
    return work


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    work = work_with_raw_name(tmp_path / "work")
    return ToolContext(work, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, "RUN1", "build")


async def call(ctx: ToolContext, name: str, **args: Any) -> ToolResult:
    async with SideEffect("tool", name):  # as the agent handler calls it
        result = await run_tool(AGENT_TOOLS, name, ctx, args)
    result.output.encode("utf-8")  # storable: no lone surrogate reaches the model or SQLite
    return result


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("read_file", {"path": NUL_PATH}),
        ("write_file", {"path": NUL_PATH, "content": "x"}),
        ("list_files", {"path": "sub\x00dir"}),
        ("read_file", {"path": f"{LONE}.txt"}),
        ("write_file", {"path": f"{LONE}.txt", "content": "x"}),
        ("list_files", {"path": LONE}),
        ("shell", {"command": "echo a\x00b"}),
    ],
)
async def test_bad_arguments_are_tool_errors(
    ctx: ToolContext, tool: str, args: dict[str, Any]
) -> None:
    result = await call(ctx, tool, **args)
    assert result.is_error, result


async def test_a_nul_byte_names_the_problem(ctx: ToolContext) -> None:
    result = await call(ctx, "read_file", path=NUL_PATH)
    assert result == ToolResult("Path contains a NUL byte: 'notes\\x00.txt'", is_error=True)


async def test_a_non_utf8_file_name_in_the_working_directory(ctx: ToolContext) -> None:
    listing = await call(ctx, "list_files")
    assert not listing.is_error
    assert listing.output.splitlines() == ["ok.txt", "\ufffd\ufffd-not-utf8.txt"]
    # The name as the model can give it back (replacement characters) names no file.
    again = await call(ctx, "read_file", path="\ufffd\ufffd-not-utf8.txt")
    assert again == ToolResult("File not found: \ufffd\ufffd-not-utf8.txt", is_error=True)
    shell = await call(ctx, "shell", command="ls")
    assert not shell.is_error and "\ufffd\ufffd-not-utf8.txt" in shell.output
    written = await call(ctx, "write_file", path="content.txt", content=f"a{LONE}b")
    # Text no file can hold is refused whole: an error result, and no half-written file.
    assert written.is_error and "surrogates not allowed" in written.output, written
    assert not (ctx.work_dir / "content.txt").exists()


# ---- through a real agent stage -------------------------------------------------------------

AGENT = """digraph Tools {
  graph [goal="Look around", default_provider="anthropic"]
  start [shape=Mdiamond]
  look [shape=box, prompt="Look at the files"]
  exit [shape=Msquare]
  start -> look -> exit
}"""


async def test_an_agent_stage_survives_them(harness: Harness, fake: FakeProviders) -> None:
    env = {"ANTHROPIC_API_KEY": "sk-ant-tools-0123456789abcdefghij", "ANTHROPIC_BASE_URL": fake.url}
    router = Router(env, policy=HttpRetryPolicy(sleep=harness.sleep, rng=random.Random(1)))
    calls = [
        ("c1", "list_files", {}),
        ("c2", "read_file", {"path": NUL_PATH}),
        ("c3", "write_file", {"path": f"x{LONE}.txt", "content": f"a{LONE}"}),
        ("c4", "read_file", {"path": os.fsdecode(RAW_NAME)}),
    ]
    fake.anthropic(fp.anthropic("Looking.", calls), fp.anthropic("Done."))
    record = await harness.create(AGENT)
    work_with_raw_name(harness.lifecycle.run_dir(record.id) / "work")
    try:
        result = await harness.execute(record, deps=harness.deps(llm=router))
    finally:
        await router.aclose()
    assert result.status == "completed", result.error

    turns = await stages.list_turns(harness.db, record.id, "look")
    uses = {use["id"]: use for turn in turns for use in turn.tools or []}
    assert "\ufffd\ufffd-not-utf8.txt" in uses["c1"]["result"] and not uses["c1"]["is_error"]
    assert uses["c2"]["is_error"] and "NUL byte" in uses["c2"]["result"]
    # The lone surrogates were replaced where the reply entered: a harmless file name.
    assert not uses["c3"]["is_error"], uses["c3"]
    assert (harness.lifecycle.run_dir(record.id) / "work" / "x\ufffd.txt").read_text() == "a\ufffd"
    assert uses["c4"]["is_error"]  # the surrogate-escaped name, made storable, names no file
    # What the model was sent back: the tool errors, as text it can read.
    second = fake.bodies(ANTHROPIC_PATH)[1]
    results = [
        block
        for message in second["messages"]
        if isinstance(message["content"], list)
        for block in message["content"]
        if block.get("type") == "tool_result"
    ]
    assert [block.get("is_error", False) for block in results] == [False, True, False, True]
    json.dumps(second, ensure_ascii=False).encode("utf-8")
