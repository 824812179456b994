from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.llm.fake_providers import FakeProviders, running


@pytest.fixture
async def fake() -> AsyncIterator[FakeProviders]:
    async with running() as server:
        yield server
