"""A server's model backend, rebuilt when a provider key kept as a secret changes.

The backend (simulated, or a Router for the configured providers: router.py) depends on the
provider keys. The environment's are fixed for the life of the process; a key the environment
lacks may come from a secret (docs/secrets.md), which an admin may set or delete while the
server runs. ``LiveBackend`` holds the backend for work starting now and builds a new one
when those keys change. Each run takes the backend current when it starts (or resumes) and
keeps it to its end, so a run never changes keys half way; a chat message or a completion
takes the current one. The routers it builds share one HTTP client, which it closes with
itself: a router replaced holds no connections of its own and is gone once no run uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from fabro.llm.http import new_client
from fabro.llm.provider import LlmBackend
from fabro.llm.router import close_backend

# The backend for an environment, its routers on the given client.
Build = Callable[[Mapping[str, str], httpx.AsyncClient], LlmBackend]


class LiveBackend:
    """The backend for work starting now (``current``), rebuilt by ``use_keys``."""

    def __init__(
        self, env: Mapping[str, str], build: Build, provider_keys: Mapping[str, str] | None = None
    ) -> None:
        self._env = dict(env)
        self._build = build
        self._client = new_client()
        self._keys = dict(provider_keys or {})
        self._current = build({**self._env, **self._keys}, self._client)

    @classmethod
    def fixed(cls, backend: LlmBackend) -> LiveBackend:
        """Always ``backend``, whatever the secrets say (tests, and servers given one)."""
        return cls({}, lambda env, client: backend)

    @property
    def current(self) -> LlmBackend:
        return self._current

    def use_keys(self, provider_keys: Mapping[str, str]) -> bool:
        """Build the backend for ``provider_keys`` (the keys secrets supply, replacing the
        previous ones) if they changed; whether they did."""
        keys = dict(provider_keys)
        if keys == self._keys:
            return False
        backend = self._build({**self._env, **keys}, self._client)
        if backend is self._current:  # a fixed backend
            return False
        self._keys, self._current = keys, backend
        return True

    async def aclose(self) -> None:
        await close_backend(self._current)  # a backend given to ``fixed`` owns its client
        await self._client.aclose()
