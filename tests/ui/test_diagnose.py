"""Diagnostics of DOT typed in the new-run form, each placed at a line of the source."""

from __future__ import annotations

from fabro.config import LimitsSettings
from fabro.ui.diagnose import (
    CONTEXT_LINES,
    FULL_VIEW_LINES,
    MAX_DIAGNOSTICS,
    SourceLine,
    diagnose,
    source_view,
)

LIMITS = LimitsSettings()
PLACED = """digraph A {
  start [shape=Mdiamond]
  exit [shape=Msquare]
  start -> a
  a -> exit [condition="outcome="]
  a [prompt="hello $missing"]
}
"""


def test_a_parse_error_has_its_line_and_column() -> None:
    [found] = diagnose("digraph A {\n  a -> -> b\n}\n", {}, LIMITS)
    assert found["rule"] == "parse_error" and found["severity"] == "error"
    assert (found["line"], found["col"]) == (2, 8)


def test_node_diagnostics_take_the_nodes_statement_and_edge_ones_their_edge() -> None:
    found = diagnose(PLACED, {}, LIMITS)
    undefined = next(d for d in found if d["rule"] == "undefined_variable")
    assert undefined["node_id"] == "a" and undefined["line"] == 6  # `a [...]`, not line 4
    on_edge = next(d for d in found if "edge" in d)
    assert on_edge["edge"] == {"from": "a", "to": "exit"} and on_edge["line"] == 5
    assert not [
        d for d in diagnose(PLACED, {"missing": "x"}, LIMITS) if d["rule"] == "undefined_variable"
    ]


def test_a_node_without_a_statement_takes_its_first_mention() -> None:
    source = "digraph A {\n  start [shape=Mdiamond]\n  start -> work\n}\n"
    dead_end = next(d for d in diagnose(source, {}, LIMITS) if d.get("node_id") == "work")
    assert dead_end["line"] == 3


def test_limits_are_named_and_long_lists_are_cut() -> None:
    small = LimitsSettings(max_source_bytes=1024)
    [limit] = diagnose("digraph A {}" + " " * 2000, {}, small)
    assert limit["rule"] == "limits" and "limits.max_source_bytes" in limit["message"]
    # Each of these nodes is a dead end with no prompt: far more diagnostics than are shown.
    nodes = "\n".join(f"  n{index}" for index in range(MAX_DIAGNOSTICS))
    found = diagnose(f"digraph A {{\n{nodes}\n}}\n", {}, LIMITS)
    assert len(found) == MAX_DIAGNOSTICS + 1
    assert found[-1]["rule"] == "more" and "not shown" in found[-1]["message"]


def test_the_view_numbers_every_line_of_a_short_source() -> None:
    diagnostics = [
        {"rule": "x", "severity": "warning", "message": "w", "line": 2},
        {"rule": "y", "severity": "error", "message": "e", "line": 2},
        {"rule": "z", "severity": "info", "message": "i", "line": 99},  # past the end: ignored
    ]
    assert source_view("a\n<b>\nc", diagnostics) == [
        SourceLine(1, "a"),
        SourceLine(2, "<b>", "error"),  # the worst severity on the line
        SourceLine(3, "c"),
    ]


def test_a_long_source_shows_its_flagged_lines_in_context() -> None:
    source = "\n".join(f"line {number}" for number in range(1, FULL_VIEW_LINES + 101))
    view = source_view(source, [{"rule": "r", "severity": "error", "message": "m", "line": 200}])
    shown = [line.number for line in view if line is not None]
    assert shown == list(range(200 - CONTEXT_LINES, 200 + CONTEXT_LINES + 1))
    assert view[0] is None and view[-1] is None  # gaps before and after
    assert source_view(source, []) == []
