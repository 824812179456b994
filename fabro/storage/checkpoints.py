"""Checkpoints stored incrementally: a small head row plus one row per map entry or list item.

A checkpoint (api.md §6.6) grows with every stage: the completed list, one outcome per node,
and the context (a `response.<node>` per stage). Rewritten whole after every stage, it made the
per-stage commit cost O(stages) in JSON encoding and in WAL traffic. So its maps and lists are
stored as *sections*: `checkpoint_entries` holds one row per entry (`pos` = the insertion order
of a map, the index of a list) and `checkpoints.data` holds the rest (timestamp, current and
next node) with an empty container in place of each section that is always there. Rows written
by schema version 1 (``incremental = 0``) hold the whole checkpoint and are read as they are.

What is written is what the engine says changed (``Changes``, engine/delta.py): the keys set
in each map, the items appended to each list, and the sections replaced whole. A set key
replaces its row (found by key) or takes the next position; an appended item takes the next
position. ``load`` rebuilds the same JSON, keys in the same order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from fabro import jsontext
from fabro.storage.db import Database, Row, WriteTx

_dumps = jsontext.dumps

# The sections a checkpoint always has, empty or not; the others are left out while empty.
_ALWAYS: dict[str, Any] = {
    "completed_nodes": [],
    "node_retries": {},
    "context_values": {},
    "logs": [],
}


class Changes(Protocol):
    """Changes to a run's checkpoint sections (engine.delta.StateDelta is one)."""

    @property
    def maps(self) -> Mapping[str, Mapping[str, Any]]: ...

    @property
    def lists(self) -> Mapping[str, Sequence[Any]]: ...

    @property
    def replaced(self) -> set[str]: ...


# The order of a checkpoint's keys (api.md §6.6), whichever rows they come from.
_ORDER = {
    key: index
    for index, key in enumerate(
        (
            "timestamp",
            "current_node",
            "completed_nodes",
            "node_retries",
            "context_values",
            "logs",
            "node_outcomes",
            "next_node_id",
            "loop_failure_signatures",
            "restart_failure_signatures",
            "node_visits",
        )
    )
}
# The checkpoint's maps and lists (api.md §6.6), by their checkpoint key.
MAP_SECTIONS = (
    "context_values",
    "node_outcomes",
    "node_retries",
    "node_visits",
    "loop_failure_signatures",
    "restart_failure_signatures",
)
LIST_SECTIONS = ("completed_nodes", "logs")
SECTIONS = MAP_SECTIONS + LIST_SECTIONS


# The next position of a section, computed where the row is inserted (the key's old row
# keeps its position: ON CONFLICT updates only the value).
_NEXT_POS = (
    "(SELECT COALESCE(MAX(pos) + 1, 0) FROM checkpoint_entries WHERE run_id = ?1 AND section = ?2)"
)
_SET_KEY = (
    "INSERT INTO checkpoint_entries (run_id, section, pos, key, value)"
    f" VALUES (?1, ?2, {_NEXT_POS}, ?3, ?4)"
    " ON CONFLICT (run_id, section, key) DO UPDATE SET value = excluded.value"
)
_APPEND = (
    "INSERT INTO checkpoint_entries (run_id, section, pos, key, value)"
    f" VALUES (?1, ?2, {_NEXT_POS}, NULL, ?3)"
)


def save(
    tx: WriteTx,
    run_id: str,
    changes: Changes,
    ts: str,
    current_node: str | None,
    next_node_id: str | None,
) -> None:
    """Apply ``changes`` to the run's stored checkpoint and set its head (inside the caller's
    transaction). Replacing every section rewrites the checkpoint whole."""
    if len(changes.replaced) >= len(SECTIONS):
        tx.execute("DELETE FROM checkpoint_entries WHERE run_id = ?", [run_id])
    else:
        for section in changes.replaced:
            tx.execute(
                "DELETE FROM checkpoint_entries WHERE run_id = ? AND section = ?",
                [run_id, section],
            )
    for section, values in changes.maps.items():
        tx.executemany(
            _SET_KEY, [(run_id, section, key, _dumps(value)) for key, value in values.items()]
        )
    for section, items in changes.lists.items():
        tx.executemany(_APPEND, [(run_id, section, _dumps(item)) for item in items])
    head: dict[str, Any] = {"timestamp": ts, "current_node": current_node or "", **_ALWAYS}
    if next_node_id:
        head["next_node_id"] = next_node_id
    tx.execute(
        "INSERT INTO checkpoints (run_id, data, updated_at, incremental) VALUES (?, ?, ?, 1)"
        " ON CONFLICT (run_id) DO UPDATE SET"
        " data = excluded.data, updated_at = excluded.updated_at, incremental = 1",
        [run_id, _dumps(head), ts],
    )


def save_whole(tx: WriteTx, run_id: str, data: dict[str, Any] | str, ts: str) -> None:
    """Replace the run's checkpoint by one JSON document (``data`` may be serialized already)."""
    tx.execute("DELETE FROM checkpoint_entries WHERE run_id = ?", [run_id])
    tx.execute(
        "INSERT INTO checkpoints (run_id, data, updated_at, incremental) VALUES (?, ?, ?, 0)"
        " ON CONFLICT (run_id) DO UPDATE SET"
        " data = excluded.data, updated_at = excluded.updated_at, incremental = 0",
        [run_id, data if isinstance(data, str) else _dumps(data), ts],
    )


# Head and entries in one statement, so they come from one snapshot even while the engine
# commits stages. The head sorts first (its section is NULL).
_LOAD = (
    "SELECT NULL AS section, 0 AS pos, NULL AS key, data AS value, updated_at, incremental"
    " FROM checkpoints WHERE run_id = ?"
    " UNION ALL"
    " SELECT section, pos, key, value, NULL, NULL FROM checkpoint_entries WHERE run_id = ?"
    " ORDER BY section, pos"
)


async def load(db: Database, run_id: str) -> tuple[dict[str, Any], str] | None:
    """The run's checkpoint JSON and when it was written; None before the first one."""
    rows = await db.fetchall(_LOAD, [run_id, run_id])
    if not rows or rows[0]["section"] is not None:
        return None
    return assemble(rows), rows[0]["updated_at"]


def assemble(rows: list[Row]) -> dict[str, Any]:
    """Rebuild a checkpoint from its head row and entry rows (ordered by section, pos)."""
    head_row, entries = rows[0], rows[1:]
    data: dict[str, Any] = json.loads(head_row["value"])
    if not head_row["incremental"]:
        return data
    # One json.loads per section: its entries are joined into one JSON text. A map's rows
    # have keys, a list's have none.
    parts: dict[str, list[str]] = {}
    is_map: dict[str, bool] = {}
    for row in entries:
        section = row["section"]
        key = row["key"]
        text = row["value"] if key is None else f"{_dumps(key)}:{row['value']}"
        parts.setdefault(section, []).append(text)
        is_map.setdefault(section, key is not None)
    for section, texts in parts.items():
        joined = ",".join(texts)
        data[section] = json.loads("{" + joined + "}" if is_map[section] else "[" + joined + "]")
    return {key: data[key] for key in sorted(data, key=lambda key: _ORDER.get(key, len(_ORDER)))}
