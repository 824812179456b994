"""Checkpoints stored incrementally: a small head row plus one row per map entry or list item.

A checkpoint (api.md §6.6) grows with every stage: the completed list, one outcome per node,
and the context (a `response.<node>` per stage). Rewritten whole after every stage, it made the
per-stage commit cost O(stages) in JSON encoding and in WAL traffic. So its maps and lists are
stored as *sections*: `checkpoint_entries` holds one row per entry (`pos` = the insertion order
of a map, the index of a list) and `checkpoints.data` holds the rest (timestamp, current and
next node) with an empty container in place of each section. A ``CheckpointWriter`` remembers
what it stored last and writes only the rows that changed; ``load`` rebuilds the same JSON,
keys in the same order. Rows written by schema version 1 (``incremental = 0``) hold the whole
checkpoint and are read as they are.

Finding what changed must not cost O(checkpoint) either. A ``TrackedDict`` (the engine state's
maps) logs the keys set since the writer last looked, so only those are compared. Any other map
or list is compared entry by entry, by identity first. A map or list *value* may have been
changed in place, so it is re-encoded and compared every time, except in the sections the
writer is told hold values that are replaced, never mutated (node outcomes).
"""

from __future__ import annotations

import json
import operator
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from itertools import compress
from typing import Any

from fabro import jsontext
from fabro.storage.db import Database, Row, WriteTx

Entry = tuple[str, int, str | None, str]  # section, pos, key (None in a list), JSON value


_dumps = jsontext.dumps


def _is_container(value: Any) -> bool:
    return isinstance(value, dict | list | tuple)


_MISSING = object()


class TrackedDict(dict[Any, Any]):
    """A dict that logs which keys were set since ``take_changes`` was last called.

    Removing a key (which changes the order of later insertions) is not logged key by key: it
    makes the next ``take_changes`` answer None, "unknown", and the section is rewritten.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._changed: dict[Any, None] = {}  # ordered: new keys in the order they were added
        self._unknown = True  # nothing taken yet

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (dict(self),))

    def __setitem__(self, key: Any, value: Any) -> None:
        if self.get(key, _MISSING) is value:
            return  # the same object again (the engine resets some keys every stage)
        super().__setitem__(key, value)
        self._changed[key] = None

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(key)
        self._unknown = True

    def __ior__(self, other: Any) -> TrackedDict:  # type: ignore[misc]
        self.update(other)
        return self

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def pop(self, key: Any, *default: Any) -> Any:
        if key in self:
            self._unknown = True
        return super().pop(key, *default)

    def popitem(self) -> tuple[Any, Any]:
        self._unknown = True
        return super().popitem()

    def clear(self) -> None:
        self._unknown = True
        super().clear()

    def take_changes(self) -> dict[Any, None] | None:
        """The keys set since the last call, in the order first set (so keys added since come
        in the dict's own order); None when keys were removed (or on the first call)."""
        changed = None if self._unknown else self._changed
        self._changed = {}
        self._unknown = False
        return changed


@dataclass
class _Mirror:
    """What the database holds for one section, as this writer last stored it."""

    source: Any  # the container it was read from (a TrackedDict's log is relative to it)
    is_map: bool
    keys: list[Any]  # map keys in order (empty for a list)
    values: list[Any]  # the stored objects, compared by identity
    encoded: list[str]  # their JSON as stored
    containers: set[int]  # positions whose value is a map or a list (not kept when immutable)
    index: dict[Any, int] | None = None  # key -> pos, built when a tracked map first needs it
    strings: bool = False  # every value is a str: a list of them compares exactly with ==


@dataclass(frozen=True)
class CheckpointDelta:
    """The writes that bring the stored checkpoint up to date; see ``CheckpointWriter``."""

    head: str
    full: bool  # delete every entry of the run first (the writer knew nothing stored)
    cleared: tuple[str, ...]  # sections whose rows are deleted first
    truncated: tuple[tuple[str, int], ...]  # (section, length): list rows past it are deleted
    entries: tuple[Entry, ...]  # rows inserted or replaced


def merge(first: CheckpointDelta, then: CheckpointDelta) -> CheckpointDelta:
    """One delta that saves what saving ``first``, then ``then``, saves.

    The engine's writes of one loop turn can hold several stages' checkpoints: their rows are
    written once (keys that every stage sets, such as ``last_stage``, only in their last
    version), rows of ``first`` that ``then`` deletes are left out, and ``then``'s rows
    follow ``first``'s, so that in the one upsert the later version of a row wins.
    """
    if then.full:
        return then
    cleared = set(then.cleared)
    cut = dict(then.truncated)
    kept = tuple(
        entry
        for entry in first.entries
        if entry[0] not in cleared and not (entry[0] in cut and entry[1] >= cut[entry[0]])
    )
    return CheckpointDelta(
        head=then.head,
        full=first.full,
        cleared=tuple(dict.fromkeys(first.cleared + then.cleared)),
        truncated=first.truncated + then.truncated,
        entries=kept + then.entries,
    )


class CheckpointWriter:
    """Turns successive checkpoints of one run into the row changes since the last stored one.

    ``diff`` assumes its delta gets stored (by ``save``, in a transaction); if it is not, or
    may not have been, call ``reset``: the next delta is then a full rewrite.
    """

    def __init__(self, immutable_sections: Collection[str] = ()) -> None:
        self._immutable = frozenset(immutable_sections)
        self._mirrors: dict[str, _Mirror] | None = None  # None: nothing known to be stored

    def reset(self) -> None:
        self._mirrors = None

    def diff(self, checkpoint: Mapping[str, Any]) -> CheckpointDelta:
        full = self._mirrors is None
        old = self._mirrors or {}
        mirrors: dict[str, _Mirror] = {}
        head: dict[str, Any] = {}
        changes = _Changes()
        for name, value in checkpoint.items():
            if isinstance(value, dict):
                head[name] = {}
            elif isinstance(value, list | tuple):
                head[name] = []
            else:
                head[name] = value
                continue
            mirror = old.get(name)
            immutable = name in self._immutable
            if mirror is None or not _update(name, mirror, value, immutable, changes):
                if not full:
                    changes.cleared.append(name)
                mirror = _rewrite(name, value, immutable, changes)
            mirrors[name] = mirror
        changes.cleared += [name for name in old if name not in mirrors]
        self._mirrors = mirrors
        return CheckpointDelta(
            head=_dumps(head),
            full=full,
            cleared=tuple(changes.cleared),
            truncated=tuple(changes.truncated),
            entries=tuple(changes.entries),
        )


class _Changes:
    def __init__(self) -> None:
        self.cleared: list[str] = []
        self.truncated: list[tuple[str, int]] = []
        self.entries: list[Entry] = []


def _rewrite(name: str, source: Any, immutable: bool, changes: _Changes) -> _Mirror:
    is_map = isinstance(source, dict)
    keys = list(source) if is_map else []
    values = list(source.values()) if is_map else list(source)
    if isinstance(source, TrackedDict):
        source.take_changes()  # the log starts from what is stored now
    encoded = [_dumps(value) for value in values]
    if is_map:
        changes.entries += [(name, pos, keys[pos], text) for pos, text in enumerate(encoded)]
    else:
        changes.entries += [(name, pos, None, text) for pos, text in enumerate(encoded)]
    containers = set() if immutable else _containers(values, 0)
    return _Mirror(source, is_map, keys, values, encoded, containers, strings=_all_strings(values))


def _all_strings(values: list[Any]) -> bool:
    return all(type(value) is str for value in values)


def _containers(values: list[Any], start: int) -> set[int]:
    return {pos for pos in range(start, len(values)) if _is_container(values[pos])}


def _update(name: str, mirror: _Mirror, source: Any, immutable: bool, changes: _Changes) -> bool:
    """Bring ``mirror`` up to date with ``source``, logging the rows to write.

    Returns False (nothing logged) when the section must be rewritten instead: its kind
    changed, or a map lost keys or got them in another order.
    """
    if isinstance(source, dict) != mirror.is_map:
        return False
    if mirror.is_map:
        if isinstance(source, TrackedDict) and source is mirror.source:
            return _update_tracked(name, mirror, source, immutable, changes)
        keys = list(source)
        count = len(mirror.keys)
        if len(keys) < count or keys[:count] != mirror.keys:
            return False
        if isinstance(source, TrackedDict):
            source.take_changes()
        values = list(source.values())
    else:
        keys = []
        values = list(source)
    kept = min(len(values), len(mirror.values))
    if len(values) < len(mirror.values):
        changes.truncated.append((name, len(values)))
        del mirror.encoded[kept:]
        mirror.containers = {pos for pos in mirror.containers if pos < kept}
    changed: set[int] = set()
    if mirror.strings and values[:kept] == mirror.values[:kept]:
        pass  # only strings were stored, and a string equals only the same string
    else:
        # Positions whose object changed, found at C speed.
        changed = set(compress(range(kept), map(operator.is_not, values, mirror.values)))
    mirror.strings = (
        mirror.strings
        and all(type(values[pos]) is str for pos in changed)
        and _all_strings(values[kept:])
    )
    old_values = mirror.values
    mirror.source, mirror.keys, mirror.values = source, keys, values
    mirror.index = None
    _compare(name, mirror, changed, old_values, immutable, changes)
    _append(name, mirror, kept, immutable, changes)
    return True


def _update_tracked(
    name: str, mirror: _Mirror, source: TrackedDict, immutable: bool, changes: _Changes
) -> bool:
    """A tracked map: only the logged keys (and values that may change in place) are compared."""
    logged = source.take_changes()
    count = len(mirror.keys)
    if logged is None or len(source) < count:
        return False
    if not logged and (immutable or not mirror.containers):
        return True  # nothing set since the last checkpoint
    index = mirror.index
    if index is None:
        index = mirror.index = {key: pos for pos, key in enumerate(mirror.keys)}
    values = mirror.values
    old_values: dict[int, Any] = {}
    new_keys: list[Any] = []  # in the dict's order: the log keeps the order keys were added
    for key in logged:
        pos = index.get(key)
        if pos is None:
            new_keys.append(key)
        else:
            old_values[pos] = values[pos]
            values[pos] = source[key]
    if count + len(new_keys) != len(source):
        return False  # keys the log did not see (cannot happen through TrackedDict's methods)
    _compare(name, mirror, old_values, old_values, immutable, changes)
    for key in new_keys:
        index[key] = len(mirror.keys)
        mirror.keys.append(key)
        values.append(source[key])
    if mirror.strings:
        changed = [mirror.values[pos] for pos in old_values] + mirror.values[count:]
        mirror.strings = _all_strings(changed)
    _append(name, mirror, count, immutable, changes)
    return True


def _compare(
    name: str,
    mirror: _Mirror,
    changed: Iterable[int],
    old_values: Mapping[int, Any] | list[Any],
    immutable: bool,
    changes: _Changes,
) -> None:
    """Log the rows of ``changed`` positions (and of values that may change in place)."""
    positions = set(changed)
    if not immutable:
        positions |= mirror.containers
    if not positions:
        return
    for pos in sorted(positions):
        value = mirror.values[pos]
        if _is_container(value):
            if not immutable:
                mirror.containers.add(pos)
        else:
            mirror.containers.discard(pos)
            previous = old_values[pos]
            if type(value) is type(previous) and value == previous:
                continue  # an equal scalar (a new but identical string, say)
        text = _dumps(value)
        if text != mirror.encoded[pos]:
            mirror.encoded[pos] = text
            changes.entries.append((name, pos, mirror.keys[pos] if mirror.is_map else None, text))


def _append(name: str, mirror: _Mirror, start: int, immutable: bool, changes: _Changes) -> None:
    """Log the rows of the positions from ``start`` on, new since the last checkpoint."""
    if start >= len(mirror.values):
        return
    for pos in range(start, len(mirror.values)):
        text = _dumps(mirror.values[pos])
        mirror.encoded.append(text)
        key = mirror.keys[pos] if mirror.is_map else None
        changes.entries.append((name, pos, key, text))
    if not immutable:
        mirror.containers |= _containers(mirror.values, start)


# ---- SQL -------------------------------------------------------------------------------------


def save(tx: WriteTx, run_id: str, delta: CheckpointDelta, ts: str) -> None:
    """Apply ``delta`` to the run's stored checkpoint (inside the caller's transaction)."""
    if delta.full:
        tx.execute("DELETE FROM checkpoint_entries WHERE run_id = ?", [run_id])
    for section in delta.cleared:
        tx.execute(
            "DELETE FROM checkpoint_entries WHERE run_id = ? AND section = ?", [run_id, section]
        )
    for section, length in delta.truncated:
        tx.execute(
            "DELETE FROM checkpoint_entries WHERE run_id = ? AND section = ? AND pos >= ?",
            [run_id, section, length],
        )
    tx.insert_rows(
        "INSERT INTO checkpoint_entries (run_id, section, pos, key, value)",
        [(run_id, *entry) for entry in delta.entries],
        " ON CONFLICT (run_id, section, pos) DO UPDATE SET"
        " key = excluded.key, value = excluded.value",
    )
    tx.execute(
        "INSERT INTO checkpoints (run_id, data, updated_at, incremental) VALUES (?, ?, ?, 1)"
        " ON CONFLICT (run_id) DO UPDATE SET"
        " data = excluded.data, updated_at = excluded.updated_at, incremental = 1",
        [run_id, delta.head, ts],
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
    # One json.loads per section: its entries are joined into one JSON text.
    parts: dict[str, list[str]] = {}
    for row in entries:
        section = row["section"]
        key = row["key"]
        text = row["value"] if key is None else f"{_dumps(key)}:{row['value']}"
        parts.setdefault(section, []).append(text)
    for section, texts in parts.items():
        container = data.get(section)
        if isinstance(container, dict):
            data[section] = json.loads("{" + ",".join(texts) + "}")
        elif isinstance(container, list):
            data[section] = json.loads("[" + ",".join(texts) + "]")
    return data
