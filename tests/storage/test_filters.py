"""SQL conditions from optional filter values (fabro/storage/filters.py)."""

from __future__ import annotations

from fabro.storage.filters import conditions


def test_only_the_given_values_add_their_condition() -> None:
    assert conditions((("a = ?", 1), ("b = ?", None), ("c >= ?", "x"))) == (
        ["a = ?", "c >= ?"],
        [1, "x"],
    )
    assert conditions((("a = ?", None),)) == ([], [])
    assert conditions((("a = ?", 0), ("b = ?", ""))) == (["a = ?", "b = ?"], [0, ""])
