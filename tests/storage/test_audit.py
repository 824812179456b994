"""The audit log's table: records appended in a hash chain, read back newest first and
filtered; the database refuses to change or delete one, and a change made around that
(dropping the triggers, as anyone holding the file can) is found by verify."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from fabro.storage.audit import AuditFilter, AuditLog, AuditRecord
from fabro.storage.db import Database

RECORD = AuditRecord(
    at="2026-03-01T10:00:00.000Z",
    principal="alice",
    role="admin",
    action="startRun",
    method="POST",
    target="/runs",
    status=201,
    result="ok",
    request_id="req-1",
    client="127.0.0.1",
)


async def filled(db: Database) -> AuditLog:
    log = AuditLog(db)
    await log.write(RECORD)
    await log.write(
        replace(RECORD, at="2026-03-02T10:00:00.000Z", principal=None, role=None, status=401,
                result="refused", request_id="req-2")
    )  # fmt: skip
    await log.write(
        replace(RECORD, at="2026-03-03T10:00:00.000Z", principal="bob", action="cancelRun",
                target="/runs/R1/cancel", status=409, result="failed", request_id="req-3")
    )  # fmt: skip
    return log


def tamper(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("DROP TRIGGER audit_log_no_delete")
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


async def test_records_are_read_back_newest_first_and_filtered(db: Database) -> None:
    log = await filled(db)
    page = await log.list(AuditFilter(), limit=10, offset=0)
    assert [r.request_id for r in page.items] == ["req-3", "req-2", "req-1"]
    assert page.items[2] == replace(RECORD, seq=1)
    assert not page.has_more
    cases = {
        AuditFilter(principal="bob"): ["req-3"],
        AuditFilter(action="startRun"): ["req-2", "req-1"],
        AuditFilter(result="refused"): ["req-2"],
        AuditFilter(since="2026-03-02T00:00:00.000Z"): ["req-3", "req-2"],
        AuditFilter(until="2026-03-02T00:00:00.000Z"): ["req-1"],
    }
    for match, expected in cases.items():
        found = await log.list(match, limit=10, offset=0)
        assert [r.request_id for r in found.items] == expected, match
    first = await log.list(AuditFilter(), limit=2, offset=0)
    assert first.has_more and [r.seq for r in first.items] == [3, 2]


async def test_append_queues_without_waiting_and_commits_soon(db: Database) -> None:
    log = AuditLog(db)
    log.append(RECORD)
    log.append(replace(RECORD, request_id="req-2"))
    deadline = asyncio.get_running_loop().time() + 5
    while len((await log.list(AuditFilter(), limit=10, offset=0)).items) < 2:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)
    assert (await log.verify()).ok


async def test_the_database_refuses_to_update_or_delete_a_record(db: Database) -> None:
    await filled(db)
    conn = sqlite3.connect(db.path, isolation_level=None)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE audit_log SET body = '{}' WHERE seq = 1")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM audit_log")
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 3
    finally:
        conn.close()


async def test_the_chain_verifies_and_finds_an_edit_or_a_deletion(
    db: Database, tmp_path: Path
) -> None:
    log = await filled(db)
    report = await log.verify()
    assert report.ok and report.entries_checked == 3 and report.head_seq == 3
    tamper(
        Path(db.path),
        "UPDATE audit_log SET body = replace(body, '\"bob\"', '\"carol\"') WHERE seq = 3",
    )
    edited = await log.verify()
    assert not edited.ok and edited.problem == "edited" and edited.bad_seq == 3
    assert edited.entries_checked == 2


async def test_a_deleted_record_is_a_gap(db: Database) -> None:
    log = await filled(db)
    tamper(Path(db.path), "DELETE FROM audit_log WHERE seq = 2")
    report = await log.verify()
    assert not report.ok and report.problem == "gap" and report.bad_seq == 2
