"""LiveBackend: the backend for work starting now, rebuilt when the provider keys change."""

from __future__ import annotations

import asyncio
import gc
import weakref

from fabro.llm.live import LiveBackend
from fabro.llm.router import Router, choose_backend
from fabro.llm.simulated import SimulatedBackend

KEY = "sk-ant-live-0123456789abcdefghij"
ENV = {"ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}  # never called here


def live(keys: dict[str, str] | None = None) -> LiveBackend:
    return LiveBackend(ENV, lambda env, client: choose_backend(env, client=client), keys)


def test_the_keys_secrets_supply_choose_the_backend() -> None:
    assert isinstance(live().current, SimulatedBackend)  # no key anywhere: simulated
    keyed = live({"ANTHROPIC_API_KEY": KEY}).current
    assert isinstance(keyed, Router) and set(keyed.providers) == {"anthropic"}


def test_a_change_of_keys_builds_a_new_backend_and_the_same_keys_do_not() -> None:
    backend = live()
    first = backend.current
    assert backend.use_keys({}) is False and backend.current is first
    assert backend.use_keys({"ANTHROPIC_API_KEY": KEY}) is True
    keyed = backend.current
    assert isinstance(keyed, Router)
    assert backend.use_keys({"ANTHROPIC_API_KEY": KEY}) is False and backend.current is keyed
    assert backend.use_keys({}) is True  # the secret deleted
    assert isinstance(backend.current, SimulatedBackend)


def test_replaced_routers_share_one_client_open_until_the_end_and_are_not_kept() -> None:
    async def scenario() -> None:
        backend = live({"ANTHROPIC_API_KEY": KEY})
        old = backend.current
        assert isinstance(old, Router)
        backend.use_keys({"ANTHROPIC_API_KEY": KEY + "-rotated"})
        new = backend.current
        assert isinstance(new, Router) and new is not old
        assert old.client is new.client  # no connections of its own
        assert not old.client.is_closed  # a run that started with it may still call it
        gone = weakref.ref(old)
        del old
        gc.collect()
        assert gone() is None  # once no run holds it, nothing does: many changes, no growth
        await backend.aclose()
        assert new.client.is_closed

    asyncio.run(scenario())


def test_a_fixed_backend_never_changes() -> None:
    given = SimulatedBackend()
    backend = LiveBackend.fixed(given)
    assert backend.use_keys({"ANTHROPIC_API_KEY": KEY}) is False
    assert backend.current is given
