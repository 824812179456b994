"""Command stages: a shell or Python program in the run's working directory (engine.md §9.3)."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import functools
import json
import os
import shutil
import signal
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Protocol

from fabro.engine.effects import require
from fabro.engine.governor import ActionRefused, AlreadyRan
from fabro.engine.orphans import ProcessRecord
from fabro.engine.outcome import Outcome, RetryableError
from fabro.engine.retry import asks_for_retries
from fabro.engine.stage import StageRun
from fabro.events.redact import Redactor, StreamRedactor
from fabro.governance.describe import command_action
from fabro.secrets.source import MissingSecret, stage_secrets
from fabro.storage.space import is_disk_full
from fabro.workflow.model import Node

DEFAULT_TIMEOUT_MS = 600_000
CONTEXT_CAP = 65_536
MESSAGE_TAIL = 8_000
KILL_GRACE_S = 2.0
_CHUNK = 65_536


def command_env(
    env: Mapping[str, str],
    allowlist: Sequence[str],
    run_id: str,
    node_id: str,
    work_dir: Path,
    secrets: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The variables of ``allowlist`` found in the server's environment, the stage's
    ``secrets`` (those it names), plus the FABRO_* stage variables: a program never sees a
    provider key or token it was not given."""
    kept = {name: env[name] for name in allowlist if name in env}
    kept.update(secrets or {})
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
    """Streams one pipe, decoded (invalid bytes replaced) and redacted, to its artifact file,
    keeping only the tail in memory: no copy of the output ever holds a secret."""

    def __init__(
        self, path: Path, redactor: Redactor, tap: Callable[[str], None] | None = None
    ) -> None:
        self.file: IO[str] = path.open("w", encoding="utf-8", newline="")
        self.tap = tap  # also sees the text written, as it comes
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.stream = StreamRedactor(redactor, lines=True)
        self.tail = ""
        self.dropped = 0  # characters no longer held in memory

    def add(self, chunk: bytes) -> None:
        self._keep(self.stream.feed(self.decoder.decode(chunk)))

    def close(self) -> None:
        """Pass on what is held back, then close the file (safe to call twice)."""
        if self.file.closed:
            return
        try:
            self._keep(self.stream.feed(self.decoder.decode(b"", final=True)))
            self._keep(self.stream.close())
        finally:
            self.file.close()

    def _keep(self, text: str) -> None:
        if not text:
            return
        self.file.write(text)
        if self.tap is not None:
            self.tap(text)
        self.tail += text
        if len(self.tail) > 2 * CONTEXT_CAP:
            self.dropped += len(self.tail) - CONTEXT_CAP
            self.tail = self.tail[-CONTEXT_CAP:]

    def text(self) -> str:
        return self.tail


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
    dies first (fabro.engine.orphans). OSError when it cannot be started; OutsideSideEffect
    outside a command or tool side effect (effects.py).
    """
    require("a program", "command", "tool")
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own process group, killed as a whole
    )
    record: ProcessRecord | None = None
    timed_out = False
    try:
        if run_dir is not None:  # inside the try: a program whose record fails is killed
            record = ProcessRecord.create(run_dir, process.pid)
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
    try:
        secrets = await stage_secrets(stage.deps.secrets, stage.graph, node)
    except MissingSecret as missing:
        return Outcome.fail(missing.message(node.id))  # before anything runs
    timeout_ms = node.timeout_ms or DEFAULT_TIMEOUT_MS
    folder = stage.stage_dir
    _write_json(folder / "script_invocation.json", {
        "command": script, "language": language, "timeout_ms": timeout_ms,
    })  # fmt: skip
    out = _Capture(folder / "stdout.log", stage.redactor, _tap(stage, "stdout"))
    err = _Capture(folder / "stderr.log", stage.redactor, _tap(stage, "stderr"))
    env = command_env(
        stage.deps.env, stage.deps.env_allowlist, stage.run_id, node.id, stage.work_dir, secrets
    )
    argv = program(language, script)
    gate = stage.gate(command_action(script, language), repeat_safe=node.idempotent)
    started = stage.deps.clock.monotonic()
    try:
        # The program may change the world: the guard starts it only once the policy allowed
        # it and StageStarted and its receipt are committed, so a crash can never leave a run
        # of it without a trace.
        async with stage.side_effect("command", argv[0], gate):
            exit_code = await run_process(
                argv,
                cwd=stage.work_dir,
                env=env,
                out=out,
                err=err,
                timeout_s=timeout_ms / 1000,
                run_dir=stage.spec.run_dir,
            )
            gate.ended(failed=exit_code != 0, exit_status=exit_code)  # None: timed out
    except ActionRefused as refused:
        return Outcome.fail(refused.message)
    except AlreadyRan as earlier:
        if earlier.succeeded:
            return Outcome.success(earlier.message)
        return Outcome.fail(earlier.message)
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the script
        if is_disk_full(exc):
            raise  # no room for its output: the run is held, the stage runs again later
        return Outcome.fail(f"Script could not be started: {exc}")
    finally:
        out.close()  # closed even when a cancellation interrupts the kill
        err.close()
    timed_out = exit_code is None
    duration_ms = int((stage.deps.clock.monotonic() - started) * 1000)
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
    if asks_for_retries(node):  # retried with backoff; the last attempt's failure is kept
        raise RetryableError(message, context_updates=updates)
    return Outcome.fail(message, context_updates=updates)


def _tap(stage: StageRun, stream: str) -> Callable[[str], None] | None:
    output = stage.deps.output
    return None if output is None else functools.partial(output, stage.stage_id, stream)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")
