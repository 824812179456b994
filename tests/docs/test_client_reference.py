"""docs/client-reference.md is what the SDK's code generates (`python -m
fabro.client.reference > docs/client-reference.md` after changing a method)."""

from __future__ import annotations

from pathlib import Path

from fabro.client.endpoints import Endpoints
from fabro.client.reference import reference_markdown

PAGE = Path(__file__).resolve().parents[2] / "docs" / "client-reference.md"


def test_the_reference_page_is_generated_from_the_code() -> None:
    assert PAGE.read_text(encoding="utf-8") == reference_markdown(), (
        "docs/client-reference.md is stale: python -m fabro.client.reference > "
        "docs/client-reference.md"
    )


def test_every_method_is_in_the_reference() -> None:
    page = PAGE.read_text(encoding="utf-8")
    methods = [name for name in dir(Endpoints) if not name.startswith("_")]
    assert len(methods) >= 30
    for name in [*methods, "stream_run_events", "wait_for_run"]:
        assert f"### `{name}(" in page, name
