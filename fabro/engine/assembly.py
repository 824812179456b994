"""One run's engine, assembled alike for the server, `fabro run`, the tests and the benchmark.

Two steps, because `fabro run` chooses its LLM backend between them (only for a run it got):

- ``claim_run``: a fresh run is started (engine.md §3); a resumed one is claimed for this
  process and its state read back from the last checkpoint (engine.md §5);
- ``build_engine``: the RunSpec (paths, vars, LLM levels), the Recorder and the Engine.

``assemble_run`` does both. What differs between callers comes in as arguments: the
``Lifecycle`` carries the store, the event sink and the redactor (the recorder uses the
same three), ``EngineDeps`` the interviewer, backend, environment allow-list, dry run and the
test seams (clock, sleep, rng); ``server_default`` is the lowest LLM level.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabro.engine.control import RunControl
from fabro.engine.lifecycle import Lifecycle
from fabro.engine.recorder import Recorder
from fabro.engine.runner import Engine, EngineResult
from fabro.engine.stage import EngineDeps, LlmLevels, RunSpec, StageHandler
from fabro.engine.state import EngineState
from fabro.llm.resolve import LevelChoice
from fabro.storage.records import RunRecord
from fabro.workflow.model import Graph


@dataclass(frozen=True)
class Claim:
    """A run this process may execute: its working directory and where it resumes."""

    work_dir: Path
    state: EngineState | None = None  # from the last checkpoint; None: from the start node
    recovered: bool = False  # resumed after an interruption (orphans killed, fidelity degraded)


@dataclass(frozen=True)
class AssembledRun:
    engine: Engine
    claim: Claim

    async def run(self) -> EngineResult:
        return await self.engine.run(self.claim.state, recovered=self.claim.recovered)


def run_levels(config: Mapping[str, Any], server_default: LevelChoice | None = None) -> LlmLevels:
    """The run-wide LLM levels (engine.md §10.1) from the run's config and the process's default.

    `run_override` is what `fabro run --model/--provider` stored; the server never stores it.
    """
    override = config.get("run_override") or {}
    llm = config.get("llm") or {}
    return LlmLevels(
        run_override=LevelChoice(override.get("model"), override.get("provider")),
        run_config=LevelChoice(llm.get("model"), llm.get("provider")),
        server_default=server_default or LevelChoice(),
    )


def workflow_dir_of(run: RunRecord) -> Path | None:
    """The folder of the run's workflow file, as stored when it was created (None: none)."""
    folder = run.config.get("workflow_dir")
    return Path(str(folder)) if folder else None


async def claim_run(
    lifecycle: Lifecycle, run: RunRecord, *, resume: bool = False, keep_paused: bool = True
) -> Claim | None:
    """Start ``run``, or with ``resume`` claim it again and read its checkpoint.

    A run still `starting` never ran a stage: it is started afresh. None when the run is not
    this process's to execute (cancelled or finished meanwhile) or its set-up failed, which
    ``Lifecycle.start`` has then stored as the run's failure. ``keep_paused`` is the server's
    choice; `fabro run --resume` continues a paused run.
    """
    workflow_dir = workflow_dir_of(run)
    if not resume or run.status == "starting":
        work_dir = await lifecycle.start(run, workflow_dir)
        return None if work_dir is None else Claim(work_dir)
    claimed = await lifecycle.resumed(run.id, "recovery", keep_paused=keep_paused)
    if claimed is None:
        return None
    work_dir = lifecycle.prepare_dirs(claimed, workflow_dir)
    checkpoint = await lifecycle.store.get_checkpoint(run.id)
    state = EngineState.from_checkpoint(checkpoint.data) if checkpoint else None
    return Claim(work_dir, state, recovered=True)


def build_engine(
    lifecycle: Lifecycle,
    run: RunRecord,
    work_dir: Path,
    deps: EngineDeps,
    *,
    server_default: LevelChoice | None = None,
    control: RunControl | None = None,
    handlers: Mapping[str, StageHandler] | None = None,
) -> Engine:
    """The engine of ``run``; its recorder writes to the lifecycle's store and sink."""
    spec = RunSpec(
        run_id=run.id,
        graph=Graph.from_json(run.prepared_graph),
        run_dir=lifecycle.run_dir(run.id),
        work_dir=work_dir,
        workflow_dir=workflow_dir_of(run),
        vars=dict(run.vars),
        llm=run_levels(run.config, server_default),
        workflow=run.workflow_slug,
        started_by=run.created_by,
    )
    recorder = Recorder(
        lifecycle.store, run.id, lifecycle.publish, lifecycle.redactor, clock=deps.clock
    )
    return Engine(spec, deps, recorder, control=control, handlers=handlers)


async def assemble_run(
    lifecycle: Lifecycle,
    run: RunRecord,
    deps: EngineDeps,
    *,
    resume: bool = False,
    keep_paused: bool = True,
    server_default: LevelChoice | None = None,
    control: RunControl | None = None,
    handlers: Mapping[str, StageHandler] | None = None,
) -> AssembledRun | None:
    """``claim_run`` then ``build_engine``; None when the run is not to be executed here."""
    claim = await claim_run(lifecycle, run, resume=resume, keep_paused=keep_paused)
    if claim is None:
        return None
    engine = build_engine(
        lifecycle,
        run,
        claim.work_dir,
        deps,
        server_default=server_default,
        control=control,
        handlers=handlers,
    )
    return AssembledRun(engine, claim)
