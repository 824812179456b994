from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fabro.storage.db import Database
from tests.engine.harness import Harness


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    db = await Database.open(tmp_path / "local.db")
    yield Harness(db=db, data_dir=tmp_path)
    await db.close()
