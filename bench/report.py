"""How the benchmarks print their results: a goal's verdict, and a table of measures."""

from __future__ import annotations

from collections.abc import Sequence

# (measure, value, goal, verdict or note)
Row = tuple[str, str, str, str]
HEADER: Row = ("measure", "value", "goal", "verdict / note")


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def print_rows(rows: Sequence[Row]) -> None:
    """The rows under a header, each column as wide as its widest cell."""
    widths = [max(len(row[i]) for row in (HEADER, *rows)) for i in range(4)]
    for name, value, goal, met in (HEADER, *rows):
        line = f"{name:<{widths[0]}}  {value:>{widths[1]}}  {goal:<{widths[2]}}  {met}"
        print(line.rstrip())
