"""Which backend a process uses, and the router that sends each call to its provider.

engine.md §10.2-§10.3: with --dry-run or no provider configured every call is simulated;
otherwise calls go to the configured providers by name, and a provider that fabro cannot call
(or that has no credentials here) fails deterministically.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing

import httpx

from fabro.events.redact import Redactor, secret_values
from fabro.llm.anthropic import AnthropicProvider
from fabro.llm.http import HttpRetryPolicy, new_client
from fabro.llm.openai import OpenAiProvider
from fabro.llm.provider import (
    LlmBackend,
    LlmError,
    LlmRequest,
    LlmResponse,
    OnRetry,
    StreamEvent,
    StreamingBackend,
)
from fabro.llm.simulated import SimulatedBackend

# What configures each callable provider, as named in the "not configured" message.
PROVIDER_ENV = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY or OPENAI_BASE_URL"}

Provider = AnthropicProvider | OpenAiProvider


def configured_providers(env: Mapping[str, str]) -> list[str]:
    """The providers whose credentials (or base URL) are set in ``env``."""
    found = []
    if env.get("ANTHROPIC_API_KEY"):
        found.append("anthropic")
    if env.get("OPENAI_API_KEY") or env.get("OPENAI_BASE_URL"):
        found.append("openai")
    return found


def choose_backend(
    env: Mapping[str, str],
    *,
    dry_run: bool = False,
    policy: HttpRetryPolicy | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    redactor: Redactor | None = None,
    client: httpx.AsyncClient | None = None,
) -> LlmBackend:
    """The simulated backend with --dry-run or without any provider, else a Router (on
    ``client`` when given: see Router)."""
    if dry_run or not configured_providers(env):
        return SimulatedBackend()
    return Router(env, policy=policy, transport=transport, redactor=redactor, client=client)


async def close_backend(backend: LlmBackend) -> None:
    """Release a backend's connections (only a Router holds any)."""
    if isinstance(backend, Router):
        await backend.aclose()


def unavailable(provider: str) -> LlmError | None:
    """The routing error for a provider fabro cannot call at all, else None."""
    if provider in PROVIDER_ENV:
        return None
    # Catalog providers (gemini, kimi, ...) and names the catalog lacks alike.
    message = f"Provider '{provider}' is not supported by this fabro version"
    return LlmError(message, failure_class="deterministic", retryable=False)


class Router:
    """A real backend: one client shared by the configured providers (and by the routers
    that replace one another when keys change: ``client``, closed by whoever made it)."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        policy: HttpRetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        redactor: Redactor | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._owns_client = client is None
        self.client = new_client(transport) if client is None else client
        # The server's (every configured secret) when given, else one for ``env``'s secrets.
        self.redactor = redactor or Redactor(secret_values(env))
        policy = policy or HttpRetryPolicy()
        self.providers: dict[str, Provider] = {}
        if env.get("ANTHROPIC_API_KEY"):
            self.providers["anthropic"] = AnthropicProvider(
                self.client, env["ANTHROPIC_API_KEY"], env.get("ANTHROPIC_BASE_URL"), policy
            )
        if env.get("OPENAI_API_KEY") or env.get("OPENAI_BASE_URL"):
            self.providers["openai"] = OpenAiProvider(
                self.client, env.get("OPENAI_API_KEY"), env.get("OPENAI_BASE_URL"), policy
            )

    @property
    def simulated(self) -> bool:
        return False

    def provider(self, name: str) -> Provider:
        """The provider for ``name``; LlmError when it is unsupported or not configured."""
        found = self.providers.get(name)
        if found is not None:
            return found
        error = unavailable(name)
        if error is not None:
            raise error
        raise LlmError(
            f"Provider '{name}' is not configured (set {PROVIDER_ENV[name]})",
            failure_class="deterministic",
            retryable=False,
        )

    async def complete(self, request: LlmRequest, on_retry: OnRetry | None = None) -> LlmResponse:
        try:
            return await self.provider(request.provider).complete(request, on_retry)
        except LlmError as error:
            raise self._redacted(error) from None

    async def stream(
        self, request: LlmRequest, on_retry: OnRetry | None = None
    ) -> AsyncGenerator[StreamEvent, None]:
        # A generator, so that routing errors surface on iteration like every other error.
        try:
            provider = self.provider(request.provider)
            async with aclosing(provider.stream(request, on_retry)) as events:
                async for event in events:
                    yield event
        except LlmError as error:
            raise self._redacted(error) from None

    def _redacted(self, error: LlmError) -> LlmError:
        """The error with secrets masked: a provider's error text may quote a key."""
        message = self.redactor.text(error.message)
        return LlmError(message, failure_class=error.failure_class, retryable=error.retryable)

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()


def streaming(backend: LlmBackend) -> StreamingBackend | None:
    """The backend as a streaming one, or None for the simulated backend."""
    return backend if isinstance(backend, Router) else None
