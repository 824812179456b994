"""`scripts/bench engine`: what it runs and how it judges the goal."""

from __future__ import annotations

from pathlib import Path

import pytest

from fabro.bench import engine


def test_a_small_run_prints_every_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert engine.main(["--stages", "5", "--repeat", "1", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "engine: 5 simulated agent stages" in out
    assert "in-memory database (baseline)" in out
    assert "SQLite file (durable)" in out
    assert "stage folders on" in out  # the same run with the folders beside the database
    assert "goal: <= 0.5 ms per durable stage" in out
    assert not list(tmp_path.iterdir())  # its folders are removed


def took(durable_ms: float) -> dict[str, float]:
    stages = 1000
    return {
        "memory": 0.4 * stages / 1000,
        "durable": durable_ms * stages / 1000,
        "folders": 0.05 * stages / 1000,
    }


@pytest.mark.parametrize(("durable_ms", "verdict"), [(0.45, "met"), (0.55, "NOT met")])
def test_the_goal_is_judged_on_the_durable_run(
    tmp_path: Path, durable_ms: float, verdict: str
) -> None:
    text = engine.report(1000, 3, tmp_path, tmp_path, took(durable_ms))
    assert text.splitlines()[-1].endswith(f": {verdict}")
    assert f"{durable_ms:.3f}" in text
