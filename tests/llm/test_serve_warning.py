"""`fabro serve` says when it falls back to the simulated backend (engine.md §10.3)."""

from __future__ import annotations

from pathlib import Path

from fabro.llm.simulated import NO_PROVIDER_WARNING
from tests.e2e.serverproc import start_server

NO_PROVIDERS = {"ANTHROPIC_API_KEY": "", "OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""}


def test_warning_without_a_provider_only(tmp_path: Path) -> None:
    bare = start_server(tmp_path / "bare", env=NO_PROVIDERS)
    bare.stop()
    assert f"warning: {NO_PROVIDER_WARNING}" in bare.stderr
    keyed = start_server(
        tmp_path / "keyed",
        env={**NO_PROVIDERS, "ANTHROPIC_API_KEY": "sk-ant-test-0123456789abcdef"},
    )
    keyed.stop()
    assert NO_PROVIDER_WARNING not in keyed.stderr
    assert "sk-ant-test-0123456789abcdef" not in keyed.stderr + keyed.stdout
    dry = start_server(tmp_path / "dry", env=NO_PROVIDERS, args=["--dry-run"])
    dry.stop()
    assert NO_PROVIDER_WARNING not in dry.stderr  # --dry-run is said on the listening line
