"""The receipts' hash chain: how an entry's hash is made, and checking a chain of entries.

Each entry's hash is the SHA-256 of the previous entry's hash and the canonical JSON of its
own sequence number, receipt id, entry kind and body. Changing any entry changes its hash,
which no longer matches what the next entry links to; so whoever edits the database file must
rewrite every later entry, and a chain verified once (or its head hash kept elsewhere) shows it.

``Verifier`` takes entries one at a time in sequence order (the storage reads them in pages,
so a chain of millions is checked in bounded memory) and stops at the first bad one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

GENESIS = "0" * 64  # the prev_hash of the first entry

# edited: an entry's content is not what its hash was made of; gap: entries are missing;
# reordered: an entry links to the one after it; bad_link: an entry links to no entry before.
Problem = Literal["edited", "gap", "reordered", "bad_link"]


@dataclass(frozen=True)
class ChainEntry:
    """One stored entry as the chain sees it (``body``: the stored JSON text)."""

    seq: int
    receipt_id: str
    entry: str
    body: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    entries_checked: int
    head_seq: int | None = None  # the last entry checked
    head_hash: str | None = None  # keep it elsewhere: it vouches for everything up to it
    bad_seq: int | None = None  # the first bad entry (for a gap: the first missing one)
    problem: Problem | None = None
    detail: str | None = None


def canonical(value: Any) -> str:
    """The one JSON text of ``value``: sorted keys, no spaces, UTF-8 as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(prev_hash: str, seq: int, receipt_id: str, entry: str, body: dict[str, Any]) -> str:
    """The hash of an entry that follows the entry hashed ``prev_hash``."""
    content = canonical([seq, receipt_id, entry, body])
    return hashlib.sha256((prev_hash + content).encode("utf-8")).hexdigest()


def _stored_hash(item: ChainEntry) -> str | None:
    """The hash ``item``'s content makes; None when its body is not a JSON object."""
    try:
        body = json.loads(item.body)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    return entry_hash(item.prev_hash, item.seq, item.receipt_id, item.entry, body)


class Verifier:
    """Checks entries fed in sequence order; ``report()`` after the last."""

    def __init__(self) -> None:
        self._checked = 0
        self._last: ChainEntry | None = None  # the last entry found good
        self._pending: ChainEntry | None = None  # waits for the next (a reorder shows there)
        self._failure: VerifyReport | None = None

    @property
    def failed(self) -> bool:
        return self._failure is not None

    def feed(self, item: ChainEntry) -> None:
        if self._failure is not None:
            return
        if self._pending is not None:
            self._check(self._pending, item)
        self._pending = item

    def report(self) -> VerifyReport:
        if self._pending is not None and self._failure is None:
            self._check(self._pending, None)
            self._pending = None
        if self._failure is not None:
            return self._failure
        last = self._last
        return VerifyReport(
            ok=True,
            entries_checked=self._checked,
            head_seq=None if last is None else last.seq,
            head_hash=None if last is None else last.hash,
        )

    def _check(self, item: ChainEntry, following: ChainEntry | None) -> None:
        problem = self._problem(item, following)
        if problem is None:
            self._checked += 1
            self._last = item
            return
        kind, bad_seq, detail = problem
        last = self._last
        self._failure = VerifyReport(
            ok=False,
            entries_checked=self._checked,
            head_seq=None if last is None else last.seq,
            head_hash=None if last is None else last.hash,
            bad_seq=bad_seq,
            problem=kind,
            detail=detail,
        )

    def _problem(
        self, item: ChainEntry, following: ChainEntry | None
    ) -> tuple[Problem, int, str] | None:
        expected_seq = 1 if self._last is None else self._last.seq + 1
        if item.seq < expected_seq:
            return "reordered", item.seq, f"entry {item.seq} is out of sequence order"
        if item.seq > expected_seq:
            if item.seq == expected_seq + 1:
                return "gap", expected_seq, f"entry {expected_seq} is missing (deleted)"
            span = f"{expected_seq} to {item.seq - 1}"
            return "gap", expected_seq, f"entries {span} are missing (deleted)"
        expected_prev = GENESIS if self._last is None else self._last.hash
        if item.prev_hash != expected_prev:
            if following is not None and item.prev_hash == following.hash:
                return "reordered", item.seq, f"entry {item.seq} links to the entry after it"
            before = "the chain's start" if self._last is None else f"entry {self._last.seq}"
            return "bad_link", item.seq, f"entry {item.seq} does not link to {before}"
        if _stored_hash(item) != item.hash:
            return "edited", item.seq, f"entry {item.seq} was changed after it was written"
        return None


def verify(entries: Iterable[ChainEntry]) -> VerifyReport:
    """Check a whole chain, given in sequence order (stops reading at the first bad entry)."""
    verifier = Verifier()
    for item in entries:
        verifier.feed(item)
        if verifier.failed:
            break
    return verifier.report()
