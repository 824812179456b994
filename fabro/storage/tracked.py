"""Containers that log what changed since they were last asked: the engine state's maps and
lists, so that a checkpoint costs what a stage changed, not the whole state
(storage/checkpoints.py)."""

from __future__ import annotations

from typing import Any

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


class TrackedList(list[Any]):
    """A list that knows whether it only grew since ``take_changes`` was last called (the
    completed stages, the logs): its capture then costs the new items, not the whole list."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._taken: int | None = None  # the length at the last take; None: unknown

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (list(self),))

    def take_changes(self) -> int | None:
        """The length at the last call, when the list only grew since; else None."""
        taken, self._taken = self._taken, len(self)
        return taken

    def _changed(self) -> None:
        self._taken = None

    def __setitem__(self, index: Any, value: Any) -> None:
        super().__setitem__(index, value)
        self._changed()

    def __delitem__(self, index: Any) -> None:
        super().__delitem__(index)
        self._changed()

    def __imul__(self, count: Any) -> TrackedList:  # type: ignore[misc]
        super().__imul__(count)
        self._changed()
        return self

    def insert(self, index: Any, value: Any) -> None:
        super().insert(index, value)
        self._changed()

    def pop(self, index: Any = -1) -> Any:
        self._changed()
        return super().pop(index)

    def remove(self, value: Any) -> None:
        super().remove(value)
        self._changed()

    def clear(self) -> None:
        super().clear()
        self._changed()

    def sort(self, *args: Any, **kwargs: Any) -> None:
        super().sort(*args, **kwargs)
        self._changed()

    def reverse(self) -> None:
        super().reverse()
        self._changed()
