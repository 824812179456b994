"""`scripts/bench ui`: a tiny run end to end, and how it judges the goals."""

from __future__ import annotations

import pytest

from bench import ui
from bench.ui import Params, Results


def test_a_quick_run_prints_every_row_as_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    assert ui.main(["--quick"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("ui: the runs board; (a) 500 runs stored")
    for name in (
        "GET /ui/ with 500 runs, p95",
        "GET /ui/ with 500 runs, filtered by a label, p95",
        "commit -> DOM update, all changes, p95",
    ):
        row = next(line for line in lines if line.startswith(name))
        value = row[len(name) :].split()[0]
        assert float(value) >= 0, row
        assert row.endswith(("met", "NOT met")), row
    # Every run's card moved to waiting and then to completed, each change timed.
    assert "commit -> card in 'waiting', p50 / max" in out and "3 changes" in out
    assert "commit -> card in 'completed', p50 / max" in out


def results(render_p95_ms: float, delay_p95_ms: float) -> Results:
    got = Results()
    got.render_ms[""] = [10.0] * 9 + [render_p95_ms]
    got.delays_ms["waiting"] = [20.0] * 9 + [delay_p95_ms]
    return got


@pytest.mark.parametrize(
    ("render_ms", "delay_ms", "render", "delay"),
    [
        (150.0, 400.0, "met", "met"),
        (250.0, 400.0, "NOT met", "met"),
        (150.0, 600.0, "met", "NOT met"),
    ],
)
def test_the_goals_are_judged_on_the_p95(
    render_ms: float, delay_ms: float, render: str, delay: str
) -> None:
    rows = {row[0]: row for row in ui.rows_of(Params(), results(render_ms, delay_ms))}
    assert rows["GET /ui/ with 10,000 runs, p95"][2:] == ("<= 200 ms", render)
    assert rows["commit -> DOM update, all changes, p95"][2:] == ("<= 500 ms", delay)


def test_sizes_below_one_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        ui.main(["--runs", "0"])
    assert exit_info.value.code == 2
    assert "at least 1" in capsys.readouterr().err
