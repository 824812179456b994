"""What a stage changed in the engine state, as a value: the only way the state changes, and
what is written.

A stage sets context keys, appends its node to the completed list and log lines, and sets one
entry in each of the per-node maps; the engine sets a few keys around it (visits, the preamble,
failure signatures). Each of those changes is a ``StateDelta``; the engine applies it to its
``EngineState`` and hands the deltas since the last write to the recorder, which merges the
deltas of one database write (``then``) and stores them (storage/checkpoints.py). So a stage
costs what it changed, not the size of the state, and nothing has to find out afterwards what
changed.

A loop restart or a fresh start writes some sections *whole* (``replaced``): the section's
stored content is dropped and the delta's is the new content.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fabro.storage.checkpoints import LIST_SECTIONS, MAP_SECTIONS, SECTIONS

__all__ = ["LIST_SECTIONS", "MAP_SECTIONS", "SECTIONS", "StateDelta"]


@dataclass
class StateDelta:
    """Keys set in the checkpoint's maps and items appended to its lists, by section.

    ``maps[section]`` holds the keys set, in the order first set (a map never loses a key
    except by being replaced whole); ``lists[section]`` the items appended.
    """

    maps: dict[str, dict[str, Any]] = field(default_factory=dict)
    lists: dict[str, list[Any]] = field(default_factory=dict)
    replaced: set[str] = field(default_factory=set)

    @classmethod
    def of(
        cls,
        *,
        context: Mapping[str, Any] | None = None,
        completed: str | None = None,
        logs: Sequence[str] = (),
        **maps: Mapping[str, Any],
    ) -> StateDelta:
        """A delta from keyword sections: ``context``, ``completed`` (a node id), ``logs`` and
        any map section by name (``node_outcomes={...}``)."""
        delta = cls()
        if context:
            delta.maps["context_values"] = dict(context)
        for name, values in maps.items():
            if name not in MAP_SECTIONS:
                raise ValueError(f"not a checkpoint map: {name}")
            if values:
                delta.maps[name] = dict(values)
        if completed is not None:
            delta.lists["completed_nodes"] = [completed]
        if logs:
            delta.lists["logs"] = list(logs)
        return delta

    @classmethod
    def whole(cls, sections: Mapping[str, Any]) -> StateDelta:
        """Every section replaced by ``sections`` (copies: the state goes on changing)."""
        delta = cls(replaced=set(SECTIONS))
        for name in MAP_SECTIONS:
            delta.maps[name] = dict(sections.get(name) or {})
        for name in LIST_SECTIONS:
            delta.lists[name] = list(sections.get(name) or [])
        return delta

    def __bool__(self) -> bool:
        return bool(self.maps or self.lists or self.replaced)

    def then(self, later: StateDelta) -> StateDelta:
        """This delta followed by ``later``, as one (in place; returns self)."""
        for name in later.replaced:
            self.maps.pop(name, None)
            self.lists.pop(name, None)
        self.replaced |= later.replaced
        for name, values in later.maps.items():
            mine = self.maps.get(name)
            if mine is None:
                self.maps[name] = dict(values)
            else:
                mine.update(values)
        for name, items in later.lists.items():
            self.lists.setdefault(name, []).extend(items)
        return self
