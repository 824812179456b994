"""Read the event tables of api.md §6.8 so tests can hold the dataclasses to the spec.

Without ../shared every table is empty; the tests that use them are marked ``needs_shared``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.shared_dir import API_MD, PRESENT


@dataclass(frozen=True)
class SpecField:
    name: str
    optional: bool  # `name?`: omitted when absent
    nullable: bool  # `(T | null)`: always present, may be null


def _table_after(heading: str) -> list[list[str]]:
    """The rows (cells) of the first markdown table after a line starting with ``heading``."""
    lines = API_MD.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip("|"))]
            rows.append(cells)
        elif rows:
            break
    return rows[2:]  # without the header and the |---| line


def _fields(cell: str) -> list[SpecField]:
    out = []
    # Split on top-level commas only: parentheses hold types and enum values.
    for part in re.split(r",\s*(?![^()]*\))", cell):
        match = re.match(r"`(\w+)(\?)?`\s*(.*)", part.strip())
        if match is None:  # "—": no fields
            continue
        name, question, rest = match.groups()
        out.append(SpecField(name, question is not None, "null" in rest))
    return out


def variants(heading: str) -> dict[str, list[SpecField]]:
    """Variant name -> its fields, for the table after ``heading`` (one row may name several)."""
    out: dict[str, list[SpecField]] = {}
    if not PRESENT:
        return out
    for variant_cell, fields_cell in _table_after(heading):
        for name in re.findall(r"`(\w+)`", variant_cell):
            out[name] = _fields(fields_cell)
    return out


def run_event_table() -> dict[str, list[SpecField]]:
    """The run events table of api.md §6.8."""
    return variants("**Run events**")


def agent_event_table() -> dict[str, list[SpecField]]:
    """The AgentEvent table of api.md §6.8."""
    return variants("**AgentEvent**")
