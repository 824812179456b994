"""SQL conditions from optional filter values, shared by the lists that filter (receipts, the
audit log): each given value adds its condition and its parameter; None adds nothing."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def conditions(pairs: Iterable[tuple[str, Any]]) -> tuple[list[str], list[Any]]:
    """The SQL of each (condition, value) pair whose value is not None, and the values."""
    given = [(sql, value) for sql, value in pairs if value is not None]
    return [sql for sql, _ in given], [value for _, value in given]
