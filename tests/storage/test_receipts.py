"""Receipts in SQLite: appended as chained entries, read back as receipts, filtered, found by
idempotency key; the database refuses to change or delete them, and whoever gets around that
(dropping the triggers, as anyone holding the file can) is found by verify."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from fabro.governance.actions import NO_POLICY, ActionKind, Decision, Verdict
from fabro.storage.db import Database
from fabro.storage.receipts import (
    MAX_ACTION_CHARS,
    NoReceipts,
    ReceiptFilter,
    Receipts,
    ReceiptStart,
    begin_receipt,
    end_receipt,
    refused_receipt,
    verify_file,
)

DIGEST = "ab" * 32


def start(
    run_id: str = "R1",
    *,
    kind: ActionKind = "command",
    decision: Decision = NO_POLICY,
    at: str = "2026-03-01T10:00:00.000Z",
    key: str | None = None,
    action: str = "pytest -q",
) -> ReceiptStart:
    return ReceiptStart(
        run_id=run_id,
        stage_id="test",
        attempt=1,
        kind=kind,
        action=action,
        decision=decision.verdict.label,
        rule=decision.rule,
        approver=None,
        idempotency_key=key,
        started_at=at,
    )


@pytest.fixture
async def receipts(db: Database) -> AsyncIterator[Receipts]:
    yield Receipts(db)


def tamper(path: Path, *statements: str, params: tuple[Any, ...] = ()) -> None:
    """What someone holding the database file can do: drop the triggers, then change rows."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("DROP TRIGGER receipt_entries_no_update")
        conn.execute("DROP TRIGGER receipt_entries_no_delete")
        for statement in statements:
            conn.execute(statement, params if "?" in statement else ())
    finally:
        conn.close()


async def test_a_receipt_begins_ends_and_is_read_back_whole(
    db: Database, receipts: Receipts
) -> None:
    began = start(decision=Decision(Verdict.ALERT, "tests"), key="R1/test/1")
    await db.write(begin_receipt(began))
    half = await receipts.get(began.id)
    assert half is not None
    assert (half.outcome, half.ended_at, half.exit_status) == (None, None, None)
    await db.write(end_receipt(began.id, "applied", 0, DIGEST, "2026-03-01T10:00:01.000Z"))
    whole = await receipts.get(began.id)
    assert whole is not None
    assert (whole.run_id, whole.stage_id, whole.attempt, whole.kind) == ("R1", "test", 1, "command")
    assert (whole.action, whole.decision, whole.rule) == ("pytest -q", "ALERT", "tests")
    assert (whole.approver, whole.idempotency_key, whole.seq) == (None, "R1/test/1", 1)
    assert (whole.outcome, whole.exit_status, whole.result_digest) == ("applied", 0, DIGEST)
    assert (whole.started_at, whole.ended_at) == (began.started_at, "2026-03-01T10:00:01.000Z")
    assert await receipts.get("nope") is None
    report = await receipts.verify()
    assert (report.ok, report.entries_checked, report.head_seq) == (True, 2, 2)


async def test_a_refused_action_is_begun_and_ended_in_one_write(
    db: Database, receipts: Receipts
) -> None:
    refused = start(decision=Decision(Verdict.BLOCK, "no-push"), action="git push")
    await db.write(refused_receipt(refused, "2026-03-01T10:00:00.500Z"))
    record = await receipts.get(refused.id)
    assert record is not None
    assert (record.decision, record.rule, record.outcome) == ("BLOCK", "no-push", "refused")
    dedup = dataclasses.replace(start(key="R1/deploy/1"), decision="DEDUP", rule="")
    await db.write(refused_receipt(dedup, "2026-03-01T10:00:00.600Z"))
    assert (await receipts.list(ReceiptFilter(decision="DEDUP"), limit=5, offset=0)).items[
        0
    ].id == dedup.id
    rows = await db.fetchall("SELECT seq, entry FROM receipt_entries ORDER BY seq")
    assert [tuple(row) for row in rows] == [(1, "began"), (2, "ended"), (3, "began"), (4, "ended")]


async def test_a_receipt_ends_once_and_only_after_it_began(
    db: Database, receipts: Receipts
) -> None:
    with pytest.raises(ValueError, match="has not begun"):
        await db.write(end_receipt("missing", "failed", 1, None, "2026-03-01T10:00:00.000Z"))
    began = start()
    await db.write(begin_receipt(began))
    await db.write(end_receipt(began.id, "failed", 2, None, "2026-03-01T10:00:01.000Z"))
    with pytest.raises(sqlite3.IntegrityError):
        await db.write(end_receipt(began.id, "applied", 0, None, "2026-03-01T10:00:02.000Z"))
    assert (await receipts.verify()).ok


def test_bad_values_are_refused_before_anything_is_written() -> None:
    with pytest.raises(ValueError, match="unknown action kind"):
        begin_receipt(start(kind="teleport"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown decision"):
        begin_receipt(dataclasses.replace(start(), decision="MAYBE"))
    with pytest.raises(ValueError, match="unknown outcome"):
        end_receipt("X", "maybe", None, None, "t")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="hex SHA-256"):
        end_receipt("X", "applied", 0, "not-a-digest", "t")


async def test_a_long_action_is_cut_and_says_how_much(db: Database, receipts: Receipts) -> None:
    long = start(action="x" * (MAX_ACTION_CHARS + 10) + "\ud800")
    await db.write(begin_receipt(long))
    record = await receipts.get(long.id)
    assert record is not None
    assert record.action == "x" * MAX_ACTION_CHARS + "… [11 more characters]"


async def test_receipts_are_listed_newest_first_filtered_and_paged(
    db: Database, receipts: Receipts
) -> None:
    alert, block = Decision(Verdict.ALERT, "r"), Decision(Verdict.BLOCK, "r")
    made = [
        start("R1", kind="command", at="2026-03-01T10:00:00.000Z"),
        start("R1", kind="shell", decision=alert, at="2026-03-02T10:00:00.000Z"),
        start("R2", kind="file_write", at="2026-03-03T10:00:00.000Z"),
        start("R2", kind="shell", decision=block, at="2026-03-04T10:00:00.000Z"),
    ]
    for receipt in made:
        await db.write(begin_receipt(receipt))
    ids = [receipt.id for receipt in made]

    async def listed(**match: str) -> list[str]:
        page = await receipts.list(ReceiptFilter(**match), limit=10, offset=0)
        return [record.id for record in page.items]

    assert await listed() == ids[::-1]
    assert await listed(run_id="R2") == [ids[3], ids[2]]
    assert await listed(kind="shell") == [ids[3], ids[1]]
    assert await listed(decision="ALERT") == [ids[1]]
    assert await listed(run_id="R2", kind="shell") == [ids[3]]
    assert await listed(since="2026-03-02T10:00:00.000Z") == [ids[3], ids[2], ids[1]]
    assert await listed(until="2026-03-02T10:00:00.000Z") == [ids[0]]
    assert await listed(run_id="R3") == []
    first = await receipts.list(ReceiptFilter(), limit=3, offset=0)
    rest = await receipts.list(ReceiptFilter(), limit=3, offset=3)
    assert ([r.id for r in first.items], first.has_more) == (ids[:0:-1], True)
    assert ([r.id for r in rest.items], rest.has_more) == ([ids[0]], False)
    assert [r.id for r in await receipts.for_run("R1")] == ids[:2]  # in the order they began


async def test_by_key_finds_the_newest_receipt_of_an_action(
    db: Database, receipts: Receipts
) -> None:
    first, second = start(key="R1/deploy/1"), start(key="R1/deploy/1")
    await db.write(begin_receipt(first))
    await db.write(begin_receipt(second))
    await db.write(begin_receipt(start(key="other")))
    found = await receipts.by_key("R1/deploy/1")
    assert found is not None and found.id == second.id
    assert await receipts.by_key("nothing") is None


async def test_the_database_refuses_to_update_or_delete_an_entry(db: Database) -> None:
    await db.write(begin_receipt(start()))
    conn = sqlite3.connect(db.path, isolation_level=None)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="receipts are append-only"):
            conn.execute("UPDATE receipt_entries SET body = '{}' WHERE seq = 1")
        with pytest.raises(sqlite3.IntegrityError, match="receipts are append-only"):
            conn.execute("DELETE FROM receipt_entries")
        assert conn.execute("SELECT count(*) FROM receipt_entries").fetchone()[0] == 1
    finally:
        conn.close()


async def seeded(db: Database, count: int) -> None:
    for n in range(count):
        receipt = start(action=f"step {n}")
        await db.write(begin_receipt(receipt))
        await db.write(end_receipt(receipt.id, "applied", 0, None, "2026-03-01T10:00:01.000Z"))


async def test_verify_file_reads_a_database_directly(db: Database) -> None:
    await seeded(db, 3)
    report = verify_file(Path(db.path))
    assert (report.ok, report.entries_checked, report.head_seq) == (True, 6, 6)


@pytest.mark.parametrize(
    ("statements", "bad_seq", "problem"),
    [
        (["UPDATE receipt_entries SET body = replace(body, 'step 1', 'rm -rf /') WHERE seq = 3"],
         3, "edited"),
        (["DELETE FROM receipt_entries WHERE seq = 4"], 4, "gap"),
        (["UPDATE receipt_entries SET seq = 100 WHERE seq = 3",
          "UPDATE receipt_entries SET seq = 3 WHERE seq = 4",
          "UPDATE receipt_entries SET seq = 4 WHERE seq = 100"], 3, "reordered"),
        (["UPDATE receipt_entries SET prev_hash = hash WHERE seq = 5"], 5, "bad_link"),
    ],
    ids=["edited", "deleted", "reordered", "forged-link"],
)  # fmt: skip
async def test_a_tampered_file_is_found_by_verify(
    db: Database, receipts: Receipts, statements: list[str], bad_seq: int, problem: str
) -> None:
    await seeded(db, 3)
    tamper(Path(db.path), *statements)
    for report in (verify_file(Path(db.path)), await receipts.verify()):
        assert (report.ok, report.bad_seq, report.problem) == (False, bad_seq, problem)


async def test_verify_reads_a_long_chain_in_pages(
    db: Database, receipts: Receipts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("fabro.storage.receipts.VERIFY_PAGE", 3)
    await seeded(db, 5)
    assert (await receipts.verify()).entries_checked == 10
    assert verify_file(Path(db.path)).entries_checked == 10
    tamper(Path(db.path), "DELETE FROM receipt_entries WHERE seq = 7")
    assert (await receipts.verify()).bad_seq == 7
    assert verify_file(Path(db.path)).bad_seq == 7


def test_verify_file_says_when_there_is_nothing_to_verify(tmp_path: Path) -> None:
    with pytest.raises(NoReceipts, match="no database at"):
        verify_file(tmp_path / "missing.db")
    old = tmp_path / "old.db"
    sqlite3.connect(old).close()
    with pytest.raises(NoReceipts, match="has no receipts"):
        verify_file(old)
