"""`fabro run WORKFLOW` and `fabro run --resume RUN_ID` (cli.md §2).

The same engine, events and storage as the server, in this process, on `<data_dir>/local.db`.
Exit statuses: 0 completed, 1 failed, 2 invalid workflow or usage error, 130 interrupted.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import msgspec

from fabro.api.views import load_run_status
from fabro.engine.assembly import AssembledRun, build_engine, claim_run
from fabro.engine.lifecycle import Lifecycle, NewRun, default_title
from fabro.engine.questions import AutoApprove, Interviewer, QuestionDesk
from fabro.engine.runner import EngineResult
from fabro.engine.stage import EngineDeps
from fabro.errors import InsufficientStorage
from fabro.events.redact import Redactor, is_secret_env_name, secret_values
from fabro.home import expand_home
from fabro.llm.resolve import LevelChoice
from fabro.llm.router import choose_backend, close_backend
from fabro.llm.simulated import NO_PROVIDER_WARNING
from fabro.process import tune_collector
from fabro.secrets.source import FixedSecrets, RedactedSecrets
from fabro.standalone.failures import failure_report
from fabro.standalone.progress import Progress, elapsed
from fabro.standalone.prompt import NonInteractive, PipedAnswers, TerminalInterviewer
from fabro.storage.db import Database
from fabro.storage.records import RunRecord
from fabro.storage.sqlite_store import SqliteStore
from fabro.workflow.commands import parse_label_options, parse_var_options
from fabro.workflow.errors import DotParseError, WorkflowInputError, WorkflowSourceError
from fabro.workflow.files import goal_option
from fabro.workflow.prepare import prepare
from fabro.workflow.source import resolve_workflow

EXIT_COMPLETED, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
RESUMABLE = ("starting", "running", "paused", "cancelled")


class UsageError(Exception):
    """Exit 2 with `error: <message>`."""


@dataclass
class RunOptions:
    data_dir: Path
    workflow: str | None = None
    resume: str | None = None
    goal: str | None = None
    var_options: Sequence[str] = ()
    label_options: Sequence[str] = ()
    model: str | None = None
    provider: str | None = None
    dry_run: bool = False
    auto_approve: bool = False
    workflows_dir: Path | None = None
    verbose: bool = False
    as_json: bool = False
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


def _interviewer(options: RunOptions, progress: Progress) -> Interviewer:
    """--auto-approve; else ask at the terminal; else one line of stdin per gate."""
    if options.auto_approve:
        return AutoApprove()
    if sys.stdin is None or not sys.stdin.isatty():  # None: started with stdin closed
        return PipedAnswers()
    if sys.stderr.isatty():
        return TerminalInterviewer(before_prompt=progress._clear_live)
    return NonInteractive()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class StandaloneRun:
    """One `fabro run` invocation."""

    def __init__(self, options: RunOptions, err: TextIO | None = None, out: TextIO | None = None):
        self.options = options
        self.err = err or sys.stderr
        self.out = out or sys.stdout
        self.progress = Progress(self.err, verbose=options.verbose)
        self.redactor = Redactor(secret_values(options.env))
        self.interrupted = False

    async def main(self) -> int:
        try:
            return await self._main()
        except (UsageError, WorkflowSourceError) as exc:
            self.progress.message(f"error: {exc}")
            return EXIT_USAGE
        except InsufficientStorage as exc:
            self.progress.message(f"error: {exc.detail}")
            return EXIT_FAILED

    async def _main(self) -> int:
        options = self.options
        if options.resume is None and options.workflow is None:
            raise UsageError("WORKFLOW is required (or --resume RUN_ID)")
        new_run = None if options.resume else self._prepare()
        if isinstance(new_run, int):
            return new_run
        db = await Database.open(options.data_dir / "local.db")
        try:
            lifecycle = Lifecycle(SqliteStore(db), self.progress, self.redactor, options.data_dir)
            if new_run is not None:
                run = await lifecycle.create(new_run)
                self.progress.message(f"Run: {run.id}  ({lifecycle.run_dir(run.id)})")
                return await self._execute(lifecycle, run)
            return await self._resume(lifecycle, options.resume or "")
        finally:
            await db.close()

    def _prepare(self) -> NewRun | int:
        """Resolve, prepare and validate the workflow; print the header and diagnostics."""
        from fabro.workflow.source import registry_dir

        options = self.options
        variables = parse_var_options(options.var_options)
        labels = parse_label_options(options.label_options)
        registry = registry_dir(options.workflows_dir, options.data_dir, options.env)
        source = resolve_workflow(options.workflow or "", registry=registry)
        for warning in source.warnings:
            self.progress.message(f"warning: {warning}")
        try:
            prepared = prepare(
                source.text,
                path=source.path,
                goal=goal_option(options.goal),
                config_goal=source.goal,
                vars={**source.vars, **variables},
            )
        except DotParseError as exc:
            self.progress.message(f"error: Parse error: {exc}")
            return EXIT_USAGE
        except WorkflowInputError as exc:
            self.progress.message(f"error: {exc.detail}")
            return EXIT_USAGE
        graph = prepared.graph
        self.progress.message(
            f"Workflow: {graph.name} ({len(graph.nodes)} nodes, {len(graph.edges)} edges)"
        )
        self.progress.message(f"Graph: {source.path}")
        if graph.goal.strip():
            self.progress.message(f"Goal: {graph.goal.strip().splitlines()[0]}")
        for diagnostic in prepared.diagnostics:
            self.progress.message(diagnostic.format())
        if not prepared.ok:
            self.progress.message("error: Validation failed")
            return EXIT_USAGE
        base = (source.config_path.parent if source.config_path else source.path.parent).resolve()
        config = {key: value for key, value in source.config.items() if key != "graph"}
        config["workflow_dir"] = str(base)
        config["run_override"] = {
            key: value
            for key, value in (("model", options.model), ("provider", options.provider))
            if value
        }
        new = NewRun(
            graph=graph,
            dot_source=source.text,
            title=default_title(graph.goal, graph),
            goal=graph.goal,
            labels={**{str(k): str(v) for k, v in (config.get("labels") or {}).items()}, **labels},
            vars={**source.vars, **variables},
            source_name=source.path.name if source.path.suffix else "graph.dot",
            config=config,
            warnings=[d.to_json() for d in prepared.warnings],
            dry_run=options.dry_run,
        )
        return new

    async def _resume(self, lifecycle: Lifecycle, run_id: str) -> int:
        run = await lifecycle.store.get_run(run_id)
        if run is None:
            raise UsageError(f"Run not found: {run_id}")
        if run.status not in RESUMABLE:
            raise UsageError(f"Run {run_id} is {run.status} and cannot be resumed.")
        if run.owner_pid and run.owner_pid != os.getpid() and run.status != "cancelled":
            if _pid_alive(run.owner_pid):
                raise UsageError(f"Run {run_id} is still running in process {run.owner_pid}.")
        self.progress.message(f"Run: {run.id}  ({lifecycle.run_dir(run.id)})")
        return await self._execute(lifecycle, run, resume=True)

    async def _execute(self, lifecycle: Lifecycle, run: RunRecord, *, resume: bool = False) -> int:
        options = self.options
        claim = await claim_run(lifecycle, run, resume=resume, keep_paused=False)
        if claim is None:
            if resume and run.status != "starting":
                raise UsageError(f"Run {run.id} cannot be resumed.")
            return await self._finish(lifecycle, run.id, time.monotonic())
        dry_run = options.dry_run or run.dry_run
        llm = choose_backend(options.env, dry_run=dry_run)
        if llm.simulated and not dry_run:
            self.progress.message(f"warning: {NO_PROVIDER_WARNING}")
        deps = EngineDeps(
            llm=llm,
            interviewer=_interviewer(options, self.progress),
            desk=QuestionDesk(lifecycle.store),
            env=options.env,
            dry_run=dry_run,
            # Your own run in your own terminal: programs see your environment, less the
            # variables whose names say they hold a secret (the server passes an allow-list).
            env_allowlist=tuple(name for name in options.env if not is_secret_env_name(name)),
            output=self.progress.output,  # shown with --verbose
            # `secrets="A, B"` names variables of your own environment here (no vault).
            secrets=RedactedSecrets(FixedSecrets(options.env), self.redactor),
        )
        env_default = LevelChoice(options.env.get("FABRO_MODEL"), options.env.get("FABRO_PROVIDER"))
        engine = build_engine(lifecycle, run, claim.work_dir, deps, server_default=env_default)
        assembled = AssembledRun(engine, claim)
        started = time.monotonic()
        self.progress.start()
        task: asyncio.Task[EngineResult] = asyncio.create_task(assembled.run())
        loop = asyncio.get_running_loop()

        cancelling: list[asyncio.Task[None]] = []

        def interrupt() -> None:
            if self.interrupted:
                os._exit(EXIT_INTERRUPTED)  # a second Ctrl-C: leave at once
            self.interrupted = True
            cancelling.append(asyncio.create_task(self._cancel(lifecycle, run.id, task)))

        loop.add_signal_handler(signal.SIGINT, interrupt)
        try:
            try:
                await task
            except asyncio.CancelledError:
                if not self.interrupted:
                    raise
            except InsufficientStorage as exc:  # the run stays resumable: _finish says how
                self.progress.message(f"error: {exc.detail}")
            for pending in cancelling:
                await pending
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            await self.progress.stop()
            await close_backend(llm)
        return await self._finish(lifecycle, run.id, started)

    async def _cancel(self, lifecycle: Lifecycle, run_id: str, task: asyncio.Task[Any]) -> None:
        await lifecycle.cancel(run_id)
        task.cancel()

    async def _finish(self, lifecycle: Lifecycle, run_id: str, started: float) -> int:
        store = lifecycle.store
        final = await store.get_run(run_id)
        assert final is not None
        # Why each stage failed and what its program printed last (parallel branches too).
        failed = await store.list_stages(run_id)
        for line in await asyncio.to_thread(failure_report, failed, lifecycle.run_dir(run_id)):
            self.progress.message(line)
        took = elapsed(time.monotonic() - started)
        if self.options.as_json:
            status = msgspec.to_builtins(await load_run_status(store, final))
            self.out.write(json.dumps(status) + "\n")
            self.out.flush()
        if final.status == "completed":
            self.progress.message(f"Run completed in {took} ({run_id})")
            return EXIT_COMPLETED
        if final.status == "failed":
            self.progress.message(f"Run failed in {took}: {final.error_message} ({run_id})")
            return EXIT_FAILED
        self.progress.message(f"Run interrupted; resume with: fabro run --resume {run_id}")
        return EXIT_INTERRUPTED


def run_workflow(options: RunOptions) -> int:
    """Entry point for the CLI: run and return the exit status."""
    tune_collector()
    return asyncio.run(StandaloneRun(options).main())


def data_dir_for(flag: Path | None, env: Mapping[str, str]) -> Path:
    """`--data-dir`, else FABRO_DATA_DIR, else the config file's data_dir, else ~/.fabro."""
    if flag is not None:
        return expand_home(flag, env).resolve()
    if env.get("FABRO_DATA_DIR"):
        return expand_home(env["FABRO_DATA_DIR"], env).resolve()
    from fabro.config import load_settings
    from fabro.errors import StartupError

    try:
        return load_settings(None, env).settings.data_dir
    except StartupError:
        return expand_home("~/.fabro", env)
