"""Checkpoints stored as a base document plus a log of changes.

A checkpoint (api.md §6.6) grows with every stage: the completed list, one outcome per node,
and the context (a `response.<node>` per stage). Rewritten whole after every stage, it made the
per-stage commit cost O(stages). So `checkpoints.data` holds a *base* (the whole checkpoint as
it was at some write) and `checkpoint_log` one row per later write: what the engine said
changed (``Changes``, engine/delta.py: the keys set in each map, the items appended to each
list, the sections replaced whole) and the new head (timestamp, current and next node). A
write then costs one row the size of its changes. When the log has grown past the base (and
64 KiB), the write folds it into a new base, so the log never costs more to read than twice
the checkpoint, and the folding adds at most about one byte written per byte logged.

``load`` applies the log to the base in order and returns the same JSON, keys in the same
order. Older forms are read as they are: a whole document (``incremental = 0``), and a base
with one row per map entry or list item in `checkpoint_entries` (``incremental = 1``, schema
version 2); the engine's first write after a restart is whole, which replaces them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from fabro import jsontext
from fabro.storage.connection import Row
from fabro.storage.db import Database
from fabro.storage.writer import WriteTx

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


FOLD_AT_LEAST = 64 * 1024  # a log smaller than this is never folded (small runs never are)
_LOG = "checkpoint_log"


def save(
    tx: WriteTx,
    run_id: str,
    changes: Changes,
    ts: str,
    current_node: str | None,
    next_node_id: str | None,
) -> None:
    """Store ``changes`` and the new head as the run's next log row (inside the caller's
    transaction); changes that replace every section are written as a new base."""
    head: dict[str, Any] = {"timestamp": ts, "current_node": current_node or ""}
    if next_node_id:
        head["next_node_id"] = next_node_id
    if changes.replaced.issuperset(SECTIONS):
        checkpoint = _apply({}, head, changes)
        _write_base(tx, run_id, _dumps(checkpoint), ts, incremental=2)
        return
    text = _dumps(
        {
            "head": head,
            "maps": changes.maps,
            "lists": changes.lists,
            "replaced": sorted(changes.replaced),
        }
    )
    last = tx.fetchone(
        "SELECT seq, log_bytes, base_bytes FROM checkpoint_log WHERE run_id = ?"
        " ORDER BY seq DESC LIMIT 1",
        [run_id],
    )
    if last is None:
        base = tx.fetchone(
            "SELECT length(CAST(data AS BLOB)), incremental FROM checkpoints WHERE run_id = ?",
            [run_id],
        )
        if base is None or base[1] == 1:  # nothing stored, or an older form: fold it in
            _fold(tx, run_id, ts, extra=text)
            return
        seq, log_bytes, base_bytes = 1, len(text), int(base[0])
    else:
        seq, log_bytes, base_bytes = last[0] + 1, last[1] + len(text), last[2]
    if log_bytes > max(base_bytes, FOLD_AT_LEAST):
        _fold(tx, run_id, ts, extra=text)
        return
    tx.execute(
        "INSERT INTO checkpoint_log (run_id, seq, changes, log_bytes, base_bytes)"
        " VALUES (?, ?, ?, ?, ?)",
        [run_id, seq, text, log_bytes, base_bytes],
    )


def _fold(tx: WriteTx, run_id: str, ts: str, extra: str) -> None:
    """Write the stored checkpoint with the log row ``extra`` applied as a new base."""
    rows = tx.fetchall(_LOAD, [run_id, run_id, run_id])
    checkpoint = assemble(rows) if rows and rows[0]["part"] == 0 else {}
    _write_base(tx, run_id, _dumps(_apply_logged(checkpoint, extra)), ts, incremental=2)


def _write_base(tx: WriteTx, run_id: str, text: str, ts: str, incremental: int) -> None:
    tx.execute("DELETE FROM checkpoint_log WHERE run_id = ?", [run_id])
    tx.execute("DELETE FROM checkpoint_entries WHERE run_id = ?", [run_id])
    tx.execute(
        "INSERT INTO checkpoints (run_id, data, updated_at, incremental) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (run_id) DO UPDATE SET"
        " data = excluded.data, updated_at = excluded.updated_at,"
        " incremental = excluded.incremental",
        [run_id, text, ts, incremental],
    )


def save_whole(tx: WriteTx, run_id: str, data: dict[str, Any] | str, ts: str) -> None:
    """Replace the run's checkpoint by one JSON document (``data`` may be serialized already)."""
    _write_base(tx, run_id, data if isinstance(data, str) else _dumps(data), ts, incremental=0)


# The base, then its log (or the entries of schema version 2), in one statement so that they
# come from one snapshot even while the engine commits stages.
_LOAD = (
    "SELECT 0 AS part, NULL AS section, 0 AS pos, NULL AS key, data AS value, updated_at,"
    " incremental FROM checkpoints WHERE run_id = ?"
    " UNION ALL"
    " SELECT 1, NULL, seq, NULL, changes, NULL, NULL FROM checkpoint_log WHERE run_id = ?"
    " UNION ALL"
    " SELECT 2, section, pos, key, value, NULL, NULL FROM checkpoint_entries WHERE run_id = ?"
    " ORDER BY part, section, pos"
)


async def load(db: Database, run_id: str) -> tuple[dict[str, Any], str] | None:
    """The run's checkpoint JSON and when it was written; None before the first one."""
    rows = await db.fetchall(_LOAD, [run_id, run_id, run_id])
    if not rows or rows[0]["part"] != 0:
        return None
    data = assemble(rows)
    return data, data.get("timestamp") or rows[0]["updated_at"]


def assemble(rows: Sequence[Row]) -> dict[str, Any]:
    """Rebuild a checkpoint from its base row and the log or entry rows after it."""
    base, later = rows[0], rows[1:]
    data: dict[str, Any] = json.loads(base["value"])
    if base["incremental"] == 1:
        data = _with_entries(data, [row for row in later if row["part"] == 2])
    for row in later:
        if row["part"] == 1:
            data = _apply_logged(data, row["value"])
    return _ordered(data)


def _apply_logged(data: dict[str, Any], text: str) -> dict[str, Any]:
    logged = json.loads(text)
    return _apply(data, logged["head"], _Logged(logged))


class _Logged:
    """A log row's changes, read back."""

    def __init__(self, logged: Mapping[str, Any]) -> None:
        self.maps: Mapping[str, Mapping[str, Any]] = logged["maps"]
        self.lists: Mapping[str, Sequence[Any]] = logged["lists"]
        self.replaced: set[str] = set(logged["replaced"])


def _apply(data: dict[str, Any], head: Mapping[str, Any], changes: Changes) -> dict[str, Any]:
    """``data`` with ``changes`` made and ``head`` as its head (in place; returned)."""
    data.pop("next_node_id", None)
    data.update(head)
    for section in changes.replaced:
        data[section] = {} if section in MAP_SECTIONS else []
    for section, values in changes.maps.items():
        data.setdefault(section, {}).update(values)
    for section, items in changes.lists.items():
        data.setdefault(section, []).extend(items)
    for section in SECTIONS:
        if section not in _ALWAYS and not data.get(section, True):
            del data[section]  # optional sections are left out while empty
    for section, empty in _ALWAYS.items():
        data.setdefault(section, type(empty)())
    return _ordered(data)


def _ordered(data: dict[str, Any]) -> dict[str, Any]:
    return {key: data[key] for key in sorted(data, key=lambda key: _ORDER.get(key, len(_ORDER)))}


def _with_entries(data: dict[str, Any], entries: Sequence[Row]) -> dict[str, Any]:
    """A schema-version-2 checkpoint: the head and one row per map entry or list item (ordered
    by section, pos). One json.loads per section: its entries joined into one JSON text."""
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
    return data
