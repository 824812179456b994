"""A server's model backend, rebuilt when a provider key kept as a secret changes.

The backend (simulated, or a Router for the configured providers: router.py) depends on the
provider keys. The environment's are fixed for the life of the process; a key the environment
lacks may come from a secret (docs/secrets.md), which an admin may set or delete while the
server runs. ``LiveBackend`` holds the backend for work starting now and builds a new one
when those keys change. Each run takes the backend current when it starts (or resumes) and
keeps it to its end, so one run never sees half its stages simulated and half real; a chat
message or a completion takes the current one. A backend replaced is not closed at once (runs
may still be using it) but when the server closes: one per change of a provider key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from fabro.llm.provider import LlmBackend
from fabro.llm.router import close_backend

Build = Callable[[Mapping[str, str]], LlmBackend]  # the backend for an environment


class LiveBackend:
    """The backend for work starting now (``current``), rebuilt by ``use_keys``."""

    def __init__(
        self, env: Mapping[str, str], build: Build, provider_keys: Mapping[str, str] | None = None
    ) -> None:
        self._env = dict(env)
        self._build = build
        self._keys = dict(provider_keys or {})
        self._current = build({**self._env, **self._keys})
        self._replaced: list[LlmBackend] = []

    @classmethod
    def fixed(cls, backend: LlmBackend) -> LiveBackend:
        """Always ``backend``, whatever the secrets say (tests, and servers given one)."""
        return cls({}, lambda env: backend)

    @property
    def current(self) -> LlmBackend:
        return self._current

    def use_keys(self, provider_keys: Mapping[str, str]) -> bool:
        """Build the backend for ``provider_keys`` (the keys secrets supply, replacing the
        previous ones) if they changed; whether they did."""
        keys = dict(provider_keys)
        if keys == self._keys:
            return False
        backend = self._build({**self._env, **keys})
        if backend is self._current:  # a fixed backend
            return False
        self._replaced.append(self._current)
        self._keys, self._current = keys, backend
        return True

    async def aclose(self) -> None:
        for backend in (*self._replaced, self._current):
            await close_backend(backend)
        self._replaced.clear()
