"""Run workflows through the real engine on a real SQLite file, for engine tests."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fabro.engine.control import RunControl
from fabro.engine.lifecycle import Lifecycle, NewRun, default_title
from fabro.engine.questions import AutoApprove, Interviewer, QuestionDesk
from fabro.engine.recorder import Recorder
from fabro.engine.runner import Engine, EngineResult
from fabro.engine.stage import EngineDeps, Handler, RunSpec
from fabro.events.redact import Redactor
from fabro.llm.provider import LlmBackend
from fabro.llm.simulated import SimulatedBackend
from fabro.storage import runs, stages
from fabro.storage.db import Database
from fabro.storage.records import EventRecord, RunRecord
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
        return Lifecycle(self.db, self.published.append, Redactor(), self.data_dir)

    def deps(
        self,
        *,
        interviewer: Interviewer | None = None,
        llm: LlmBackend | None = None,
        dry_run: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> EngineDeps:
        return EngineDeps(
            llm=llm or SimulatedBackend(),
            interviewer=interviewer or AutoApprove(),
            desk=QuestionDesk(self.db),
            env=dict(env or {"PATH": "/usr/bin:/bin"}),
            dry_run=dry_run,
            sleep=self.sleep,
            rng=random.Random(7),
        )

    async def create(self, dot: str, *, goal: str | None = None, path: Path | None = None) -> RunRecord:
        prepared = prepare(dot, path=path, goal=goal)
        assert prepared.ok, [d.message for d in prepared.errors]
        graph = prepared.graph
        return await self.lifecycle.create(
            NewRun(graph=graph, dot_source=dot, title=default_title(graph.goal, graph), goal=graph.goal)
        )

    async def run(
        self,
        dot: str,
        *,
        deps: EngineDeps | None = None,
        handlers: Mapping[str, Handler] | None = None,
        control: RunControl | None = None,
        goal: str | None = None,
    ) -> tuple[RunRecord, EngineResult]:
        record = await self.create(dot, goal=goal)
        result = await self.execute(record, deps=deps, handlers=handlers, control=control)
        final = await runs.get_run(self.db, record.id)
        assert final is not None
        return final, result

    async def execute(
        self,
        record: RunRecord,
        *,
        deps: EngineDeps | None = None,
        handlers: Mapping[str, Handler] | None = None,
        control: RunControl | None = None,
    ) -> EngineResult:
        from fabro.workflow.model import Graph

        work_dir = await self.lifecycle.start(record)
        assert work_dir is not None
        spec = RunSpec(
            run_id=record.id,
            graph=Graph.from_json(record.prepared_graph),
            run_dir=self.lifecycle.run_dir(record.id),
            work_dir=work_dir,
        )
        recorder = Recorder(self.db, record.id, self.published.append, Redactor())
        engine = Engine(spec, deps or self.deps(), recorder, control=control, handlers=handlers)
        return await engine.run()

    async def events(self, run_id: str) -> list[dict[str, Any]]:
        return [e.payload for e in await runs.events_after(self.db, run_id, 0, limit=100_000)]

    async def variants(self, run_id: str, depth: int | None = 0) -> list[str]:
        return [
            e.variant
            for e in await runs.events_after(self.db, run_id, 0, limit=100_000)
            if depth is None or e.child_depth == depth
        ]

    async def stages(self, run_id: str) -> list[stages.StageRecord]:
        return await stages.list_stages(self.db, run_id)
