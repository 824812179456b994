"""Command stages: a shell or Python program in the run's working directory (engine.md §9.3)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, Protocol

from fabro.engine.orphans import ProcessRecord
from fabro.engine.outcome import Outcome, RetryableError
from fabro.engine.stage import StageRun
from fabro.events.redact import is_secret_env_name
from fabro.workflow.model import Node

DEFAULT_TIMEOUT_MS = 600_000
CONTEXT_CAP = 65_536
MESSAGE_TAIL = 8_000
KILL_GRACE_S = 2.0
_CHUNK = 65_536


def command_env(
    env: Mapping[str, str], run_id: str, node_id: str, work_dir: Path
) -> dict[str, str]:
    """The process environment minus secrets, plus the FABRO_* stage variables."""
    kept = {name: value for name, value in env.items() if not is_secret_env_name(name)}
    kept.update({"FABRO_RUN_ID": run_id, "FABRO_NODE_ID": node_id, "FABRO_WORK_DIR": str(work_dir)})
    return kept


def program(language: str, script: str) -> list[str]:
    if language == "python":
        return ["python3", "-c", script]
    shell = "/bin/bash" if Path("/bin/bash").exists() else (shutil.which("sh") or "/bin/sh")
    return [shell, "-c", script]


def cap(text: str, limit: int = CONTEXT_CAP, dropped: int = 0) -> str:
    """Keep the last ``limit`` characters, saying how much was cut (§9.3 step 6).

    ``dropped`` counts output that was already discarded before ``text`` (see _Capture).
    """
    if len(text) <= limit and not dropped:
        return text
    cut = dropped + max(len(text) - limit, 0)
    return f"[... {cut} characters truncated; full output in stage artifacts ...]\n" + text[-limit:]


class _Capture:
    """Streams one pipe to its artifact file, keeping only the tail in memory."""

    def __init__(self, path: Path) -> None:
        self.file: IO[bytes] = path.open("wb")
        self.tail = bytearray()
        self.size = 0

    def add(self, chunk: bytes) -> None:
        self.file.write(chunk)
        self.size += len(chunk)
        self.tail += chunk
        # Enough bytes for CONTEXT_CAP characters of any UTF-8 text.
        if len(self.tail) > 8 * CONTEXT_CAP:
            del self.tail[: len(self.tail) - 4 * CONTEXT_CAP]

    def close(self) -> None:
        self.file.close()

    @property
    def dropped(self) -> int:
        """Bytes no longer held in memory (counted as characters: exact for ASCII output)."""
        return self.size - len(self.tail)

    def text(self) -> str:
        return self.tail.decode("utf-8", errors="replace")


class Sink(Protocol):
    def add(self, chunk: bytes) -> None: ...


async def _pump(stream: asyncio.StreamReader | None, sink: Sink) -> None:
    if stream is None:
        return
    while chunk := await stream.read(_CHUNK):
        sink.add(chunk)


async def kill_group(process: asyncio.subprocess.Process) -> None:
    """SIGTERM to the process group, SIGKILL after the grace period."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        async with asyncio.timeout(KILL_GRACE_S):
            await process.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


async def run_process(
    argv: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    out: Sink,
    err: Sink,
    timeout_s: float,
    run_dir: Path | None = None,
) -> int | None:
    """Run ``argv`` in its own process group, streaming its output to the sinks.

    Returns the exit status, or None when it timed out. On a timeout, a cancellation or any
    error the whole group is killed, so no program outlives its stage. With ``run_dir`` the
    program is recorded there while it runs, so that a resumed run can stop it if this server
    dies first (fabro.engine.orphans). OSError when it cannot be started.
    """
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own process group, killed as a whole
    )
    record = ProcessRecord.create(run_dir, process.pid) if run_dir is not None else None
    timed_out = False
    try:
        pumps = asyncio.gather(_pump(process.stdout, out), _pump(process.stderr, err))
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.shield(pumps)
        except TimeoutError:
            timed_out = True
            await kill_group(process)
        await pumps
        await process.wait()
    finally:
        try:
            await asyncio.shield(kill_group(process))
        finally:
            if record is not None:
                record.remove()
    return None if timed_out else process.returncode


async def command(node: Node, stage: StageRun) -> Outcome:
    script = (node.script or "").strip()
    if not script:
        return Outcome.fail("No script specified")
    language = node.language
    if language not in ("shell", "python"):
        return Outcome.fail(f'Invalid language: "{language}" (expected "shell" or "python")')
    if stage.deps.dry_run:
        return Outcome.success(
            f"[Simulated] Command skipped: {script}",
            context_updates={"command.output": "", "command.stderr": "", "command.exit_code": 0},
        )
    timeout_ms = node.timeout_ms or DEFAULT_TIMEOUT_MS
    folder = stage.stage_dir
    _write_json(folder / "script_invocation.json", {
        "command": script, "language": language, "timeout_ms": timeout_ms,
    })  # fmt: skip
    # The program may change the world: start it only once StageStarted is committed, so a
    # crash can never leave a run of it without a trace.
    await stage.recorder.settle()
    out, err = _Capture(folder / "stdout.log"), _Capture(folder / "stderr.log")
    started = time.monotonic()
    try:
        exit_code = await run_process(
            program(language, script),
            cwd=stage.work_dir,
            env=command_env(stage.deps.env, stage.run_id, node.id, stage.work_dir),
            out=out,
            err=err,
            timeout_s=timeout_ms / 1000,
            run_dir=stage.spec.run_dir,
        )
    except OSError as exc:
        return Outcome.fail(f"Script could not be started: {exc}")
    finally:
        out.close()  # closed even when a cancellation interrupts the kill
        err.close()
    timed_out = exit_code is None
    duration_ms = int((time.monotonic() - started) * 1000)
    _write_json(folder / "script_timing.json", {
        "duration_ms": duration_ms, "exit_code": exit_code, "timed_out": timed_out,
    })  # fmt: skip
    stdout, stderr = out.text(), err.text()
    updates = {
        "command.output": cap(stdout, dropped=out.dropped),
        "command.stderr": cap(stderr, dropped=err.dropped),
        "command.exit_code": exit_code,
    }
    if timed_out:
        raise RetryableError(
            f"Script timed out after {timeout_ms}ms: {script}", "transient_infra", updates
        )
    if exit_code == 0:
        return Outcome.success(f"Script completed: {script}", context_updates=updates)
    message = f"Script failed with exit code: {exit_code}"
    if stdout:
        message += f"\n\n## stdout\n{stdout[-MESSAGE_TAIL:]}"
    if stderr:
        message += f"\n\n## stderr\n{stderr[-MESSAGE_TAIL:]}"
    return Outcome.fail(message, context_updates=updates)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")
