"""What a handler sees: the StageHandler protocol and the StageRun it is given."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from fabro.clock import Clock, SystemClock
from fabro.config import DEFAULT_COMMAND_ENV
from fabro.engine.artifacts import ArtifactWriter
from fabro.engine.effects import EffectKind, SideEffect, guarded
from fabro.engine.governor import ActionGate, Governor
from fabro.engine.outcome import Outcome
from fabro.engine.recorder import Recorder
from fabro.events.redact import Redactor
from fabro.events.types import RunEvent
from fabro.governance.actions import Action
from fabro.llm.provider import LlmBackend, Message
from fabro.llm.resolve import LevelChoice
from fabro.secrets.source import NoSecrets, SecretSource
from fabro.storage.store import Write
from fabro.workflow.model import Graph, Node

if TYPE_CHECKING:
    from fabro.engine.questions import Interviewer, QuestionDesk
    from fabro.engine.runner import EngineResult

Sleep = Callable[[float], Awaitable[None]]
# Called with (stage_id, "stdout" | "stderr", text) as a command stage's program prints, after
# redaction: `fabro run -v` shows it live.
OutputTap = Callable[[str, str, str], None]


class StageHandler(Protocol):
    async def __call__(self, node: Node, stage: StageRun) -> Outcome: ...


@dataclass(frozen=True)
class LlmLevels:
    """Run-wide model/provider levels of engine.md §10.1 (the node and graph levels come later)."""

    run_override: LevelChoice = field(default_factory=LevelChoice)
    run_config: LevelChoice = field(default_factory=LevelChoice)
    server_default: LevelChoice = field(default_factory=LevelChoice)


@dataclass
class EngineDeps:
    """The long-lived collaborators of every engine in a process."""

    llm: LlmBackend
    interviewer: Interviewer
    desk: QuestionDesk
    env: Mapping[str, str]  # the server's; a program sees only env_allowlist of it
    dry_run: bool = False
    env_allowlist: tuple[str, ...] = DEFAULT_COMMAND_ENV  # settings.commands.env_allowlist
    clock: Clock = field(default_factory=SystemClock)
    sleep: Sleep = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)
    artifacts: ArtifactWriter = field(default_factory=ArtifactWriter)
    output: OutputTap | None = None
    governor: Governor = field(default_factory=Governor)  # the policy actions are checked by
    # The secrets stages name (`secrets="A, B"`): the server's vault; none for `fabro run`.
    secrets: SecretSource = field(default_factory=NoSecrets)

    def __post_init__(self) -> None:
        # Handlers call the model only inside stage.side_effect("llm", ...) (effects.py).
        self.llm = guarded(self.llm)


@dataclass
class RunSpec:
    """One run as the engine executes it."""

    run_id: str
    graph: Graph
    run_dir: Path  # <data_dir>/runs/<run_id>
    work_dir: Path
    workflow_dir: Path | None = None  # folder of the workflow file (manager child files)
    vars: dict[str, str] = field(default_factory=dict)
    llm: LlmLevels = field(default_factory=LlmLevels)
    workflow: str | None = None  # registry slug; None for submitted DOT (policy rules)
    started_by: str | None = None  # who started the run; None for `fabro run` (policy rules)
    # Message history per thread id for fidelity `full` (engine.md §9.2 step 4). In memory on
    # purpose: recovery degrades the first stage's `full` to `summary:high` instead.
    threads: dict[str, list[Message]] = field(default_factory=dict)


class Watchdog:
    """Tracks inactivity; waiting for a human, a wait node or a pause does not count."""

    def __init__(self, recorder: Recorder, clock: Clock) -> None:
        self.recorder = recorder
        self.clock = clock
        self.suspended = 0
        # Recorders of manager child workflows: their events are the run's events too.
        self.children: list[Recorder] = []

    @contextmanager
    def suspend(self) -> Iterator[None]:
        self.suspended += 1
        try:
            yield
        finally:
            self.suspended -= 1
            self.recorder.last_activity = self.clock.monotonic()

    @contextmanager
    def track(self, child: Recorder) -> Iterator[None]:
        """Count a child workflow's events as activity while it runs."""
        self.children.append(child)
        try:
            yield
        finally:
            self.children.remove(child)

    def idle_s(self) -> float:
        if self.suspended:
            return 0.0
        last = max([self.recorder.last_activity, *(c.last_activity for c in self.children)])
        return self.clock.monotonic() - last


class Engineish(Protocol):
    """The parts of the engine a handler may call back into (parallel, manager)."""

    async def run_branch(
        self, parent: StageRun, node_id: str, context: dict[str, Any], index: int
    ) -> Outcome: ...

    async def run_child(
        self, parent: StageRun, graph: Graph, context: dict[str, Any]
    ) -> EngineResult: ...


@dataclass
class StageRun:
    """One stage execution, as its handler sees it."""

    spec: RunSpec
    node: Node
    stage_id: str
    attempt: int
    context: Mapping[str, Any]  # a snapshot; handlers return context_updates instead
    deps: EngineDeps
    recorder: Recorder
    watchdog: Watchdog
    engine: Engineish
    logs: list[str] = field(default_factory=list)
    actions: int = 0  # the actions on the host gated so far (numbers their receipts' keys)

    @property
    def graph(self) -> Graph:
        return self.spec.graph

    @property
    def run_id(self) -> str:
        return self.spec.run_id

    @property
    def stored_run_id(self) -> str:
        """The run whose rows this stage writes: a manager child writes into its parent's."""
        return self.recorder.run_id

    @property
    def stored_stage_id(self) -> str:
        """This stage's id among the stored run's rows (a child's is qualified by its run id)."""
        if self.recorder.run_id == self.spec.run_id:
            return self.stage_id
        return f"{self.spec.run_id}:{self.stage_id}"

    @property
    def work_dir(self) -> Path:
        return self.spec.work_dir

    @property
    def stage_dir(self) -> Path:
        """`<run_dir>/nodes/<stage_id>/` for this stage's artifacts (created on demand)."""
        path = self.spec.run_dir / "nodes" / self.stage_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def side_effect(
        self, kind: EffectKind, detail: str, gate: ActionGate | None = None
    ) -> SideEffect:
        """The guard around anything this stage does outside the database (effects.py):
        ``async with stage.side_effect("command", program, stage.gate(action)):``."""
        # A simulated model reaches nothing outside the process: nothing to wait for.
        quiet = kind == "llm" and self.deps.llm.simulated
        return SideEffect(kind, detail, None if quiet else self.recorder.settle, gate)

    def gate(self, action: Action, *, repeat_safe: bool = True) -> ActionGate:
        """The governance of ``action`` (governor.py), passed to ``side_effect``."""
        return ActionGate(self, action, repeat_safe=repeat_safe)

    async def emit(self, *events: RunEvent) -> None:
        await self.recorder.emit(*events)

    async def add_turn(
        self,
        kind: str,
        content: str | None,
        tools: list[dict[str, Any]] | None = None,
        events: Sequence[RunEvent] = (),
        same_commit: Write[Any] | None = None,
    ) -> None:
        """Store an LLM turn together with the events that go with it, and any writes of
        ``same_commit``, in one commit."""
        await self.recorder.add_turn(self.stage_id, kind, content, tools, events, same_commit)

    @property
    def redactor(self) -> Redactor:
        """The run's redactor: the one its events go through."""
        return self.recorder.redactor

    def clean(self, text: str) -> str:
        """Text entering the run from outside (a program's output, a model's reply), made
        storable and redacted: every copy made of it later is clean (redact.py)."""
        return self.recorder.redactor.clean(text)

    def write_artifact(self, name: str, text: str) -> None:
        """Queue an artifact of this stage for writing (see artifacts.py); one that cannot be
        written is reported in the run's log lines (the checkpoint's `logs`)."""
        where = f"nodes/{self.stage_id}/{name}"

        def failed(reason: str) -> None:
            # On the event loop, maybe after the stage ended: in the run's next checkpoint.
            self.logs.append(f"artifact {where} not written: {reason}")

        self.deps.artifacts.write(f"{self.spec.run_dir}/{where}", text, failed)
