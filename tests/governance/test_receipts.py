"""The receipts' hash chain: a chain as written verifies; an edited body, a deleted entry, a
reordered pair and a forged link are each found, at the first bad entry, with why."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

from fabro.governance.receipts import GENESIS, ChainEntry, canonical, entry_hash, verify


def chain(length: int) -> list[ChainEntry]:
    """``length`` entries linked as storage writes them (began and ended, by turns)."""
    entries: list[ChainEntry] = []
    prev = GENESIS
    for seq in range(1, length + 1):
        receipt_id, entry = f"R{(seq + 1) // 2}", "began" if seq % 2 else "ended"
        body = {"n": seq, "action": f"echo {seq}"}
        digest = entry_hash(prev, seq, receipt_id, entry, body)
        entries.append(ChainEntry(seq, receipt_id, entry, canonical(body), prev, digest))
        prev = digest
    return entries


def test_a_chain_as_written_verifies_and_names_its_head() -> None:
    entries = chain(6)
    report = verify(entries)
    assert (report.ok, report.entries_checked) == (True, 6)
    assert (report.head_seq, report.head_hash) == (6, entries[-1].hash)
    assert (report.bad_seq, report.problem) == (None, None)


def test_an_empty_chain_verifies() -> None:
    report = verify([])
    assert (report.ok, report.entries_checked, report.head_seq) == (True, 0, None)


def test_an_edited_body_is_found() -> None:
    entries = chain(5)
    body = json.loads(entries[2].body) | {"action": "rm -rf /"}
    entries[2] = dataclasses.replace(entries[2], body=canonical(body))
    report = verify(entries)
    assert (report.ok, report.bad_seq, report.problem) == (False, 3, "edited")
    assert report.entries_checked == 2 and report.head_seq == 2
    assert report.detail == "entry 3 was changed after it was written"


def test_a_body_that_is_no_longer_json_is_an_edit() -> None:
    entries = chain(2)
    entries[1] = dataclasses.replace(entries[1], body="{not json")
    assert verify(entries).problem == "edited"


def test_a_deleted_entry_is_a_gap() -> None:
    entries = chain(6)
    del entries[3]
    report = verify(entries)
    assert (report.ok, report.bad_seq, report.problem) == (False, 4, "gap")
    assert report.detail == "entry 4 is missing (deleted)"


def test_deleted_first_entries_are_a_gap_at_the_start() -> None:
    report = verify(chain(6)[2:])
    assert (report.bad_seq, report.problem, report.entries_checked) == (1, "gap", 0)
    assert report.detail == "entries 1 to 2 are missing (deleted)"


def test_a_reordered_pair_is_found() -> None:
    # The rows keep their places (seq), their contents swap: as an UPDATE of both would.
    entries = chain(6)
    third, fourth = entries[2], entries[3]
    entries[2] = dataclasses.replace(fourth, seq=3)
    entries[3] = dataclasses.replace(third, seq=4)
    report = verify(entries)
    assert (report.ok, report.bad_seq, report.problem) == (False, 3, "reordered")


def test_a_forged_link_is_found() -> None:
    entries = chain(4)
    entries[2] = dataclasses.replace(entries[2], prev_hash="f" * 64)
    report = verify(entries)
    assert (report.ok, report.bad_seq, report.problem) == (False, 3, "bad_link")


def test_an_entry_rewritten_with_its_own_hash_breaks_the_next_link() -> None:
    # Whoever recomputes the edited entry's hash still leaves the next entry pointing at the
    # old one: the chain breaks right after the edit.
    entries = chain(4)
    edited = entries[1]
    body = json.loads(edited.body) | {"action": "curl evil"}
    digest = entry_hash(edited.prev_hash, 2, edited.receipt_id, edited.entry, body)
    entries[1] = dataclasses.replace(edited, body=canonical(body), hash=digest)
    report = verify(entries)
    assert (report.bad_seq, report.problem) == (3, "bad_link")
    assert report.detail == "entry 3 does not link to entry 2"


def test_verify_stops_reading_at_the_first_bad_entry() -> None:
    entries = chain(4)
    entries[0] = dataclasses.replace(entries[0], prev_hash="0" * 63 + "1")
    read: list[int] = []

    def tracked() -> Iterator[ChainEntry]:
        for item in entries:
            read.append(item.seq)
            yield item

    report = verify(tracked())
    assert (report.bad_seq, report.problem) == (1, "bad_link")
    assert read == [1, 2]  # the first, and the one after it that a reorder would show in
