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

The engine stores the checkpoints of several stages in one database write, and only the last
one counts. So the work is split: ``capture`` after every stage notes the checkpoint as it is
(a tracked map's logged keys and their values, a copy of anything else, map and list values
frozen as JSON, since the state goes on changing), and ``delta`` once per write compares only
the last capture with what is stored.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import compress
from typing import Any

from fabro import jsontext
from fabro.storage.db import Database, Row, WriteTx
from fabro.storage.tracked import TrackedDict, TrackedList

Entry = tuple[str, int, str | None, str]  # section, pos, key (None in a list), JSON value


_dumps = jsontext.dumps


@dataclass(frozen=True)
class _Frozen:
    """A map or list value as captured: its JSON (the value itself may change in place)."""

    text: str


def _encode(value: Any) -> str:
    return value.text if type(value) is _Frozen else _dumps(value)


def _freeze(value: Any) -> Any:
    return _Frozen(_dumps(value)) if isinstance(value, dict | list | tuple) else value


def _is_container(value: Any) -> bool:
    return isinstance(value, dict | list | tuple | _Frozen)


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


@dataclass(eq=False)
class _Capture:
    """One section as ``capture`` saw it: a copy, or (a tracked map the writer knows) the
    values of the keys set since, which ``delta`` applies to what is stored."""

    source: Any  # the live container (a tracked map's log is relative to it)
    copy: Any = None  # the whole section (a dict or a list), container values frozen
    strings: bool = False  # a list copy holds nothing but strings
    frozen: set[Any] = field(default_factory=set)  # keys of a map whose value is frozen
    changed: dict[Any, Any] | None = None  # key -> value, in the order first set
    new_keys: list[Any] = field(default_factory=list)  # of ``changed``, those not stored yet


@dataclass(eq=False)
class _Pending:
    head: dict[str, Any]
    sections: dict[str, _Capture]


class CheckpointWriter:
    """Turns successive checkpoints of one run into the row changes since the last stored one.

    ``capture`` notes a checkpoint as it is (cheaply: a tracked map's logged keys, a copy of
    anything else); ``delta`` returns the writes for the last one captured, so the engine
    captures after every stage and computes one delta for all the stages of one database
    write. ``delta`` assumes it gets stored (by ``save``, in a transaction); if it is not, or
    may not have been, call ``reset``: the next delta is then a full rewrite.
    """

    def __init__(self, immutable_sections: Collection[str] = ()) -> None:
        self._immutable = frozenset(immutable_sections)
        self._mirrors: dict[str, _Mirror] | None = None  # None: nothing known to be stored
        self._pending: _Pending | None = None  # captured since the last delta

    def reset(self) -> None:
        self._mirrors = None
        pending = self._pending
        if pending is not None and any(c.changed is not None for c in pending.sections.values()):
            self._pending = None  # relative to what was stored: not a checkpoint on its own

    def diff(self, checkpoint: Mapping[str, Any]) -> CheckpointDelta:
        """The writes that store ``checkpoint`` (``capture`` then ``delta``)."""
        self.capture(checkpoint)
        delta = self.delta()
        assert delta is not None
        return delta

    def capture(self, checkpoint: Mapping[str, Any]) -> None:
        """Note ``checkpoint`` as it is now; it may change afterwards."""
        earlier = self._pending.sections if self._pending is not None else {}
        mirrors = self._mirrors or {}
        head: dict[str, Any] = {}
        sections: dict[str, _Capture] = {}
        for name, value in checkpoint.items():
            if isinstance(value, dict):
                head[name] = {}
            elif isinstance(value, list | tuple):
                head[name] = []
            else:
                head[name] = value
                continue
            immutable = name in self._immutable
            capture = None
            if isinstance(value, TrackedDict):
                logged = value.take_changes()
                if logged is not None:
                    capture = _note(earlier.get(name), mirrors.get(name), value, logged, immutable)
            if capture is None:
                if isinstance(value, dict):
                    capture = _copy_map(value, immutable)
                else:
                    capture = _copy_list(value, earlier.get(name), mirrors.get(name), immutable)
            sections[name] = capture
        self._pending = _Pending(head, sections)

    def delta(self) -> CheckpointDelta | None:
        """The writes that bring the stored checkpoint to the last one captured (None when
        nothing was captured since the last delta)."""
        pending, self._pending = self._pending, None
        if pending is None:
            return None
        full = self._mirrors is None
        old = self._mirrors or {}
        mirrors: dict[str, _Mirror] = {}
        changes = _Changes()
        for name, capture in pending.sections.items():
            immutable = name in self._immutable
            mirror = old.get(name)
            if capture.changed is not None and mirror is not None:
                _apply(name, mirror, capture, immutable, changes)
            elif mirror is None or not _update(name, mirror, capture.copy, immutable, changes):
                if not full:
                    changes.cleared.append(name)
                mirror = _rewrite(name, capture.copy, immutable, changes)
            mirror.source = capture.source
            mirrors[name] = mirror
        changes.cleared += [name for name in old if name not in mirrors]
        self._mirrors = mirrors
        return CheckpointDelta(
            head=_dumps(pending.head),
            full=full,
            cleared=tuple(changes.cleared),
            truncated=tuple(changes.truncated),
            entries=tuple(changes.entries),
        )


def _copy_map(value: dict[Any, Any], immutable: bool) -> _Capture:
    """The whole map, with values that may change in place frozen."""
    capture = _Capture(value, copy=dict(value))
    if not immutable:
        _note_values(capture, capture.copy, value, value)
    return capture


def _note_values(
    capture: _Capture, into: dict[Any, Any], live: Mapping[Any, Any], keys: Any
) -> None:
    """Copy the values of ``keys`` from ``live`` into the capture, maps and lists frozen."""
    for key in keys:
        item = live[key]
        if isinstance(item, dict | list | tuple):
            into[key] = _Frozen(_dumps(item))
            capture.frozen.add(key)
        else:
            into[key] = item
            capture.frozen.discard(key)


def _grown(
    value: TrackedList, earlier: _Capture | None, mirror: _Mirror | None, immutable: bool
) -> _Capture | None:
    """A tracked list that only grew since it was last captured or stored: the copy then is
    that capture's (or the stored list's) with the new items added."""
    start = value.take_changes()
    if start is None:
        return None
    if earlier is not None and earlier.source is value and isinstance(earlier.copy, list):
        capture, seen = earlier, earlier.copy  # extended in place: this capture owns it
    elif earlier is None and mirror is not None and not mirror.is_map and mirror.source is value:
        capture = _Capture(value, strings=mirror.strings)
        seen = list(mirror.values)  # once per delta: the mirror's list is not the capture's
    else:
        return None
    if len(seen) != start:
        return None
    new = value[start:]
    strings = _all_strings(new)
    seen += new if immutable or strings else [_freeze(item) for item in new]
    capture.strings = capture.strings and strings
    capture.copy = seen
    return capture


def _copy_list(
    value: list[Any] | tuple[Any, ...],
    earlier: _Capture | None,
    mirror: _Mirror | None,
    immutable: bool,
) -> _Capture:
    """The whole list, with values that may change in place frozen. A list of strings that
    only grew since it was last seen (the completed stages) is checked only past that."""
    if isinstance(value, TrackedList):
        grown = _grown(value, earlier, mirror, immutable)
        if grown is not None:
            return grown
    items = list(value)
    if earlier is not None and isinstance(earlier.copy, list):
        seen, strings = earlier.copy, earlier.strings
    elif mirror is not None and not mirror.is_map:
        seen, strings = mirror.values, mirror.strings
    else:
        seen, strings = [], True
    known = len(seen)
    if strings and len(items) >= known and items[:known] == seen:
        strings = _all_strings(items[known:])
    else:
        strings = _all_strings(items)
    if not strings and not immutable:
        items = [_freeze(item) for item in items]
    return _Capture(value, copy=items, strings=strings)


def _note(
    earlier: _Capture | None,
    mirror: _Mirror | None,
    live: TrackedDict,
    logged: Mapping[Any, None],
    immutable: bool,
) -> _Capture | None:
    """A tracked map's capture from the keys it logged since the last capture, added to the
    earlier capture of the same map; None when a copy is needed instead."""
    if earlier is not None and earlier.source is live and earlier.copy is not None:
        copy: dict[Any, Any] = earlier.copy  # an earlier copy, brought up to date
        if immutable:
            copy.update({key: live[key] for key in logged})
        else:
            _note_values(earlier, copy, live, [*logged, *(earlier.frozen - logged.keys())])
        return earlier if len(copy) == len(live) else None
    if earlier is not None and earlier.source is live and earlier.changed is not None:
        capture = earlier
    elif earlier is None and mirror is not None and mirror.is_map and mirror.source is live:
        capture = _Capture(live, changed={})
    else:
        return None
    assert mirror is not None and capture.changed is not None
    index = mirror.index
    if index is None:
        index = mirror.index = {key: pos for pos, key in enumerate(mirror.keys)}
    changed = capture.changed
    for key in logged:
        if key not in changed and key not in index:
            capture.new_keys.append(key)
    if immutable:
        changed.update({key: live[key] for key in logged})
    else:
        # Maps and lists stored or captured before may have changed in place since.
        again = {mirror.keys[pos] for pos in mirror.containers} | capture.frozen
        _note_values(capture, changed, live, [*logged, *(again - logged.keys())])
    return capture if len(mirror.keys) + len(capture.new_keys) == len(live) else None


def _apply(
    name: str, mirror: _Mirror, capture: _Capture, immutable: bool, changes: _Changes
) -> None:
    """Bring a tracked map's ``mirror`` up to date with its ``capture``, logging the rows."""
    assert capture.changed is not None
    index = mirror.index
    if index is None:
        index = mirror.index = {key: pos for pos, key in enumerate(mirror.keys)}
    values = mirror.values
    count = len(values)
    old_values: dict[int, Any] = {}
    for key, item in capture.changed.items():
        pos = index.get(key)
        if pos is not None:
            old_values[pos] = values[pos]
            values[pos] = item
    _compare(name, mirror, old_values, old_values, immutable, changes)
    for key in capture.new_keys:
        index[key] = len(mirror.keys)
        mirror.keys.append(key)
        values.append(capture.changed[key])
    if mirror.strings:
        mirror.strings = _all_strings([values[pos] for pos in old_values] + values[count:])
    _append(name, mirror, count, immutable, changes)


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
    encoded = [_encode(value) for value in values]
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
        text = _encode(value)
        if text != mirror.encoded[pos]:
            mirror.encoded[pos] = text
            changes.entries.append((name, pos, mirror.keys[pos] if mirror.is_map else None, text))


def _append(name: str, mirror: _Mirror, start: int, immutable: bool, changes: _Changes) -> None:
    """Log the rows of the positions from ``start`` on, new since the last checkpoint."""
    if start >= len(mirror.values):
        return
    for pos in range(start, len(mirror.values)):
        text = _encode(mirror.values[pos])
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
