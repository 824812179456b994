"""`../shared` beside the checkout: the corpus and the spec some tests compare fabro with.

CI checks fabro out next to it; a fresh clone has nothing beside it. A test that compares fabro
with it carries ``@needs_shared`` (or ``pytestmark = needs_shared``) and reads its data through
the paths below, at import time only when ``PRESENT``. Without the folder, tests/conftest.py
deselects those tests and prints one line saying how many did not run. A test that merely needs
sample workflows or tables uses the fixtures under tests/fixtures/ instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
CORPUS = SHARED / "corpus"
API_MD = SHARED / "spec" / "api.md"
PRESENT = SHARED.is_dir()
MARK = "shared"
MARK_HELP = f"{MARK}: compares fabro with ../shared (the corpus, the spec); deselected without it"

needs_shared = getattr(pytest.mark, MARK)


def missing_line(count: int) -> str:
    """The one line printed when the folder is missing."""
    return (
        f"../shared not found ({SHARED}): {count} corpus/spec comparison tests did not run "
        "(CI runs them; a parametrized one counts once)"
    )
