from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fabro.storage.db import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A new database file (modules that need a run in it add one over this)."""
    database = await Database.open(tmp_path / "fabro.db")
    yield database
    await database.close()
