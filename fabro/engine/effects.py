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

This is also the single place where governance will check policy (on enter, before the
effect: may this run do this?) and write receipts (on exit: what was done, how it ended).
Neither exists yet; both belong here, not in the handlers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar, Token
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

from fabro.llm.provider import LlmBackend, LlmRequest, LlmResponse, OnRetry

# command: a command stage's program; tool: an agent's tool call; llm: a model request.
EffectKind = Literal["command", "tool", "llm"]
Settle = Callable[[], Awaitable[None]]


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
    """``async with SideEffect(kind, detail, settle):`` — waits for ``settle`` (the queued
    writes), then marks the current task as inside the effect until the block ends.

    StageRun.side_effect builds it for handlers; ``settle=None`` (nothing to wait for) is for
    tests of the primitives themselves.
    """

    __slots__ = ("_settle", "_token", "effect")

    def __init__(self, kind: EffectKind, detail: str, settle: Settle | None = None) -> None:
        self.effect = Effect(kind, detail)
        self._settle = settle
        self._token: Token[Effect | None] | None = None

    async def __aenter__(self) -> Effect:
        if self._settle is not None:
            await self._settle()
        # Governance: check the run's policy for self.effect here, before the effect starts.
        self._token = _current.set(self.effect)
        return self.effect

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Governance: write the receipt of self.effect (and how it ended) here.
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
