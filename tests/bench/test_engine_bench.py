"""`scripts/bench engine`: what it runs and how it judges the goals."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import engine
from bench.engine import Measure, Results


def test_a_quick_run_prints_every_row_at_both_lengths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert engine.main(["--quick", "--stages", "5", "20", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "default fidelity (compact)" in out
    for label in (
        "in-memory database (baseline)",
        "SQLite file (durable)",
        "SQLite file, every stage committed",
    ):
        rows = [line for line in out.splitlines() if line.startswith(label)]
        assert [row.split()[-5] for row in rows] == ["5", "20"], rows
    assert "20/5 per stage: in-memory" in out and "bytes stored" in out
    assert "goal: <= 0.4 ms per durable stage at each length" in out
    assert "goal: <= 0.5 ms per stage with every stage committed" in out
    assert not list(tmp_path.iterdir())  # its folders are removed


def test_the_default_is_1000_and_5000_stages_with_the_default_fidelity() -> None:
    assert engine.LENGTHS == (1000, 5000)
    assert "fidelity" not in engine.linear_workflow(3)


def results(durable_ms: tuple[float, float], committed_ms: float = 0.45) -> Results:
    got: Results = {}
    for stages, durable in zip((1000, 5000), durable_ms, strict=True):
        got[(stages, "memory")] = Measure(0.3 * stages / 1000, 0)
        got[(stages, "durable")] = Measure(durable * stages / 1000, 9000 * stages)
        got[(stages, "committed")] = Measure(committed_ms * stages / 1000, 9000 * stages)
    return got


@pytest.mark.parametrize(
    ("durable_ms", "each", "growth"),
    [
        ((0.35, 0.38), "met", "met"),
        ((0.38, 0.45), "NOT met", "met"),
        ((0.2, 0.39), "met", "NOT met"),
    ],
)
def test_the_goals_are_judged_at_each_length_and_on_the_growth(
    tmp_path: Path, durable_ms: tuple[float, float], each: str, growth: str
) -> None:
    text = engine.report(3, tmp_path, tmp_path, results(durable_ms))
    lines = text.splitlines()
    assert next(line for line in lines if "per durable stage" in line).endswith(f": {each}")
    assert next(line for line in lines if "5,000/1,000 <=" in line).endswith(f": {growth}")
    assert "9,000" in text  # bytes per stage


def test_the_every_stage_committed_goal() -> None:
    text = engine.report(3, Path("/tmp"), Path("/tmp"), results((0.3, 0.3), committed_ms=0.6))
    assert text.splitlines()[-1].endswith(": NOT met")
