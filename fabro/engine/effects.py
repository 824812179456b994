"""The one guard around whatever a stage does outside the database.

A stage's program, an agent's tool call and a model request reach outside the run: they
change files, spend money, talk to other machines. Each goes through one guard::

    async with stage.side_effect("command", "/bin/bash"):
        exit_code = await run_process(...)

On enter the guard waits for every write queued before it (``Recorder.settle``, see
recorder.py), so after a crash only the interrupted stage can have had effects that run
again. It is cheap when nothing is queued: no turn of the event loop, no database access.

The primitives that have the effects check that they run inside a guard of the right kind
(``require``): ``run_process`` (command stages and the shell tool), the tool dispatcher
(``tools.run_tool``) and the model backend as handlers see it (``EngineDeps.llm``, wrapped
in ``GuardedLlm``). A handler that forgets the guard fails at once with ``OutsideSideEffect``
instead of quietly losing crash safety.

It is also the one place governance happens: an effect that is an action on the host
(a command, a shell, file or network tool call) comes with a gate (governor.py) that, on
enter and before the settle, asks the policy, holds the action for a person when the policy
says APPROVE, and queues its receipt, so the settle commits the receipt with the stage's
start; on exit it appends how the action ended. A model request is not an action on the
host: it has no gate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar, Token
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Protocol

from fabro.llm.provider import LlmBackend, LlmRequest, LlmResponse, OnRetry

# command: a command stage's program; tool: an agent's tool call; llm: a model request.
EffectKind = Literal["command", "tool", "llm"]
Settle = Callable[[], Awaitable[None]]


class Gate(Protocol):
    """Governance of one action (governor.ActionGate): ``before`` may raise to refuse it."""

    async def before(self) -> None: ...

    def after(self, error: BaseException | None) -> None: ...


@dataclass(frozen=True)
class Effect:
    kind: EffectKind
    detail: str  # short: the program, the tool's name, the model


class OutsideSideEffect(RuntimeError):
    """Internal error: an effectful primitive was called outside its guard (a handler bug)."""


# The effect the current task is inside (tasks it starts inherit it); None outside any.
_current: ContextVar[Effect | None] = ContextVar("fabro_side_effect", default=None)


def current() -> Effect | None:
    return _current.get()


def require(what: str, *kinds: EffectKind) -> Effect:
    """The effect we are inside; OutsideSideEffect unless it is one of ``kinds``."""
    effect = _current.get()
    if effect is None or effect.kind not in kinds:
        inside = "no side effect" if effect is None else f"a {effect.kind!r} side effect"
        raise OutsideSideEffect(
            f"internal error: {what} started inside {inside}; it must run inside "
            f"`async with stage.side_effect(...)` of kind {' or '.join(map(repr, kinds))} "
            "(fabro/engine/effects.py)"
        )
    return effect


class SideEffect:
    """``async with SideEffect(kind, detail, settle, gate):`` — passes the action's
    ``gate``, waits for ``settle`` (the queued writes, the receipt among them), then marks
    the current task as inside the effect until the block ends.

    StageRun.side_effect builds it for handlers; ``settle=None`` (nothing to wait for) is for
    tests of the primitives themselves.
    """

    __slots__ = ("_gate", "_settle", "_token", "effect")

    def __init__(
        self,
        kind: EffectKind,
        detail: str,
        settle: Settle | None = None,
        gate: Gate | None = None,
    ) -> None:
        self.effect = Effect(kind, detail)
        self._settle = settle
        self._gate = gate
        self._token: Token[Effect | None] | None = None

    async def __aenter__(self) -> Effect:
        if self._gate is not None:
            await self._gate.before()  # the policy's decision, before anything starts
        if self._settle is not None:
            await self._settle()
        self._token = _current.set(self.effect)
        return self.effect

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._gate is not None:
            self._gate.after(exc)
        if self._token is not None:
            _current.reset(self._token)
            self._token = None


class GuardedLlm:
    """The model backend as the engine's handlers see it: every call must be inside an
    ``llm`` side effect (the simulated backend too, so a handler never has two paths)."""

    def __init__(self, backend: LlmBackend) -> None:
        self.backend = backend

    @property
    def simulated(self) -> bool:
        return self.backend.simulated

    async def complete(self, request: LlmRequest, on_retry: OnRetry | None = None) -> LlmResponse:
        require("a model request", "llm")
        return await self.backend.complete(request, on_retry)


def guarded(backend: LlmBackend) -> LlmBackend:
    """``backend`` wrapped in GuardedLlm (once)."""
    return backend if isinstance(backend, GuardedLlm) else GuardedLlm(backend)
