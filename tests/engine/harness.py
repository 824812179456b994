"""Run workflows through the real engine on a real SQLite file, for engine tests."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fabro.engine.assembly import AssembledRun, assemble_run
from fabro.engine.control import RunControl
from fabro.engine.governor import Governor
from fabro.engine.handlers import HANDLERS
from fabro.engine.lifecycle import Lifecycle, NewRun, default_title
from fabro.engine.outcome import Outcome
from fabro.engine.questions import AutoApprove, Interviewer, QuestionDesk
from fabro.engine.runner import Engine, EngineResult
from fabro.engine.stage import EngineDeps, StageHandler, StageRun
from fabro.engine.state import EngineState
from fabro.events.redact import Redactor
from fabro.llm.provider import LlmBackend
from fabro.llm.simulated import SimulatedBackend
from fabro.storage import events as event_rows
from fabro.storage import runs, stages
from fabro.storage.db import Database
from fabro.storage.records import EventRecord, RunRecord
from fabro.storage.sqlite_store import SqliteStore
from fabro.workflow.model import Node
from fabro.workflow.prepare import prepare


class FakeSleep:
    """An injected sleep: records delays, returns at once (retry backoff stays fast)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@dataclass
class Harness:
    db: Database
    data_dir: Path
    published: list[EventRecord] = field(default_factory=list)
    sleep: FakeSleep = field(default_factory=FakeSleep)

    @property
    def lifecycle(self) -> Lifecycle:
        return Lifecycle(SqliteStore(self.db), self.published.append, Redactor(), self.data_dir)

    def deps(
        self,
        *,
        interviewer: Interviewer | None = None,
        llm: LlmBackend | None = None,
        dry_run: bool = False,
        env: Mapping[str, str] | None = None,
        governor: Governor | None = None,
    ) -> EngineDeps:
        return EngineDeps(
            llm=llm or SimulatedBackend(),
            interviewer=interviewer or AutoApprove(),
            desk=QuestionDesk(SqliteStore(self.db)),
            env=dict(env or {"PATH": "/usr/bin:/bin"}),
            dry_run=dry_run,
            sleep=self.sleep,
            rng=random.Random(7),
            governor=governor or Governor(),
        )

    async def create(
        self,
        dot: str,
        *,
        goal: str | None = None,
        path: Path | None = None,
        vars: Mapping[str, str] | None = None,
    ) -> RunRecord:
        prepared = prepare(dot, path=path, goal=goal, vars=vars)
        assert prepared.ok, [d.message for d in prepared.errors]
        graph = prepared.graph
        # As `fabro run` and the API store it: a manager's child files are found there.
        config = {"workflow_dir": str(path.parent)} if path is not None else {}
        return await self.lifecycle.create(
            NewRun(
                graph=graph,
                dot_source=dot,
                title=default_title(graph.goal, graph),
                goal=graph.goal,
                vars=dict(vars or {}),
                config=config,
            )
        )

    async def run(
        self,
        dot: str,
        *,
        deps: EngineDeps | None = None,
        handlers: Mapping[str, StageHandler] | None = None,
        control: RunControl | None = None,
        goal: str | None = None,
        path: Path | None = None,
        vars: Mapping[str, str] | None = None,
    ) -> tuple[RunRecord, EngineResult]:
        record = await self.create(dot, goal=goal, path=path, vars=vars)
        engine = await self.engine(record, deps=deps, handlers=handlers, control=control)
        result = await engine.run()
        final = await runs.get_run(self.db, record.id)
        assert final is not None
        return final, result

    async def engine(
        self,
        record: RunRecord,
        *,
        deps: EngineDeps | None = None,
        handlers: Mapping[str, StageHandler] | None = None,
        control: RunControl | None = None,
    ) -> Engine:
        """An engine for ``record``, moved to `running` first (engine.md §3)."""
        assembled = await assemble_run(
            self.lifecycle, record, deps or self.deps(), control=control, handlers=handlers
        )
        assert assembled is not None
        return assembled.engine

    async def resume(
        self,
        record: RunRecord,
        *,
        deps: EngineDeps | None = None,
        handlers: Mapping[str, StageHandler] | None = None,
    ) -> AssembledRun:
        """``record`` claimed again after a crash, to continue from its last checkpoint."""
        current = await self.get_run(record.id)
        assembled = await assemble_run(
            self.lifecycle, current, deps or self.deps(), resume=True, handlers=handlers
        )
        assert assembled is not None and assembled.claim.recovered
        return assembled

    async def execute(
        self,
        record: RunRecord,
        *,
        deps: EngineDeps | None = None,
        handlers: Mapping[str, StageHandler] | None = None,
        control: RunControl | None = None,
        state: EngineState | None = None,
        recovered: bool = False,
    ) -> EngineResult:
        engine = await self.engine(record, deps=deps, handlers=handlers, control=control)
        return await engine.run(state, recovered=recovered)

    async def get_run(self, run_id: str) -> RunRecord:
        record = await runs.get_run(self.db, run_id)
        assert record is not None
        return record

    async def events(self, run_id: str, depth: int | None = 0) -> list[dict[str, Any]]:
        """Stored payloads (``{variant: fields}``) of one child depth (None: all)."""
        return [
            e.payload
            for e in await event_rows.events_after(self.db, run_id, 0, limit=100_000)
            if depth is None or e.child_depth == depth
        ]

    async def of(self, run_id: str, variant: str, depth: int | None = 0) -> list[dict[str, Any]]:
        """The fields of every stored event of one variant."""
        return [e[variant] for e in await self.events(run_id, depth) if variant in e]

    async def first(
        self, run_id: str, variant: str, node_id: str, depth: int | None = 0
    ) -> dict[str, Any]:
        """The fields of the first event of one variant about one node."""
        return next(e for e in await self.of(run_id, variant, depth) if e["node_id"] == node_id)

    async def variants(self, run_id: str, depth: int | None = 0) -> list[str]:
        return [
            e.variant
            for e in await event_rows.events_after(self.db, run_id, 0, limit=100_000)
            if depth is None or e.child_depth == depth
        ]

    async def stages(self, run_id: str) -> list[stages.StageRecord]:
        return await stages.list_stages(self.db, run_id)

    async def stage(self, run_id: str, stage_id: str) -> stages.StageRecord:
        found = await stages.get_stage(self.db, run_id, stage_id)
        assert found is not None, stage_id
        return found

    async def checkpoint(self, run_id: str) -> dict[str, Any]:
        record = await runs.get_checkpoint(self.db, run_id)
        assert record is not None
        return record.data


StageFn = Callable[[Node, StageRun], Awaitable[Outcome]]


class ByNode:
    """Custom behaviour for some nodes (by id); every other node runs its real handler."""

    def __init__(self, **behaviours: StageFn) -> None:
        self.behaviours = behaviours
        self.calls: list[str] = []

    async def __call__(self, node: Node, stage: StageRun) -> Outcome:
        self.calls.append(node.id)
        behaviour = self.behaviours.get(node.id)
        if behaviour is None:
            return await (HANDLERS.get(node.kind) or HANDLERS["agent"])(node, stage)
        return await behaviour(node, stage)

    @property
    def handlers(self) -> dict[str, StageHandler]:
        return {kind: self for kind in HANDLERS}


def sequence(*steps: Outcome | Exception) -> StageFn:
    """A behaviour returning (or raising) the given steps in turn, repeating the last."""
    remaining = list(steps)

    async def behaviour(node: Node, stage: StageRun) -> Outcome:
        step = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        if isinstance(step, Exception):
            raise step
        return step

    return behaviour


async def hang(node: Node, stage: StageRun) -> Outcome:
    """A stage that never finishes by itself."""
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


class FrozenClock:
    """A clock that never moves: every time the engine takes from it is the same."""

    def now(self) -> datetime:
        return datetime(2030, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)

    def monotonic(self) -> float:
        return 1000.0


class TickingClock:
    """A clock one millisecond later at every reading: which writes share a reading shows."""

    def __init__(self) -> None:
        self.readings = 0

    def now(self) -> datetime:
        self.readings += 1
        return datetime(2030, 1, 2, tzinfo=UTC) + timedelta(milliseconds=self.readings)

    def monotonic(self) -> float:
        return 1000.0
