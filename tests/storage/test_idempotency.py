"""Idempotent requests in SQLite: a key is claimed once, holds its response, is released by a
failure or a restart, is scoped to its principal and forgotten after the window."""

from __future__ import annotations

from pathlib import Path

from fabro.storage.db import Database
from fabro.storage.idempotency import PRUNE_BATCH, IdempotentRequests, StoredResponse

T0 = "2026-03-01T10:00:00.000Z"
T1 = "2026-03-01T11:00:00.000Z"
BEFORE_T0 = "2026-03-01T09:00:00.000Z"
AFTER_T0 = "2026-03-01T10:30:00.000Z"
RESPONSE = StoredResponse(200, (("Content-Type", "application/json"),), b'{"ok":true}\n')


async def test_a_key_is_claimed_once_and_then_holds_its_response(db: Database) -> None:
    keys = IdempotentRequests(db)
    assert await keys.claim("alice", "k1", "h1", T0, BEFORE_T0) is None
    held = await keys.claim("alice", "k1", "h1", T0, BEFORE_T0)
    assert held is not None and held.request_hash == "h1" and held.response is None
    await keys.complete("alice", "k1", RESPONSE)
    done = await keys.claim("alice", "k1", "other", T0, BEFORE_T0)
    assert done is not None and done.request_hash == "h1" and done.response == RESPONSE
    assert await keys.find("alice", "k1") == done


async def test_keys_belong_to_their_principal(db: Database) -> None:
    keys = IdempotentRequests(db)
    assert await keys.claim("alice", "k1", "h1", T0, BEFORE_T0) is None
    assert await keys.claim("bob", "k1", "h2", T0, BEFORE_T0) is None


async def test_a_released_claim_frees_the_key_but_a_done_one_stays(db: Database) -> None:
    keys = IdempotentRequests(db)
    await keys.claim("alice", "k1", "h1", T0, BEFORE_T0)
    await keys.release("alice", "k1")
    assert await keys.find("alice", "k1") is None
    assert await keys.claim("alice", "k1", "h2", T0, BEFORE_T0) is None
    await keys.complete("alice", "k1", RESPONSE)
    await keys.release("alice", "k1")  # too late: the request succeeded
    assert (await keys.find("alice", "k1")) is not None


async def test_pending_claims_are_released_at_startup_and_survive_reopening(
    tmp_path: Path,
) -> None:
    db = await Database.open(tmp_path / "fabro.db")
    keys = IdempotentRequests(db)
    await keys.claim("alice", "done", "h1", T0, BEFORE_T0)
    await keys.complete("alice", "done", RESPONSE)
    await keys.claim("alice", "crashed", "h2", T0, BEFORE_T0)
    await db.close()
    db = await Database.open(tmp_path / "fabro.db")
    try:
        keys = IdempotentRequests(db)
        assert await keys.release_pending() == 1
        assert await keys.find("alice", "crashed") is None
        kept = await keys.find("alice", "done")
        assert kept is not None and kept.response == RESPONSE
    finally:
        await db.close()


async def test_a_key_older_than_the_window_is_claimed_anew(db: Database) -> None:
    keys = IdempotentRequests(db)
    await keys.claim("alice", "k1", "h1", T0, BEFORE_T0)
    await keys.complete("alice", "k1", RESPONSE)
    assert await keys.claim("alice", "k1", "h2", T1, AFTER_T0) is None
    fresh = await keys.find("alice", "k1")
    assert fresh is not None and fresh.request_hash == "h2" and fresh.created_at == T1


async def test_each_claim_prunes_a_bounded_batch_of_expired_rows(db: Database) -> None:
    keys = IdempotentRequests(db)
    old = 2 * PRUNE_BATCH + 3
    for n in range(old):
        await keys.claim("alice", f"old{n}", "h", T0, BEFORE_T0)

    async def count() -> int:
        row = await db.fetchone("SELECT count(*) FROM idempotent_requests")
        assert row is not None
        return int(row[0])

    await keys.claim("alice", "new1", "h", T1, AFTER_T0)
    assert await count() == old - PRUNE_BATCH + 1
    await keys.claim("alice", "new2", "h", T1, AFTER_T0)
    await keys.claim("alice", "new3", "h", T1, AFTER_T0)
    assert await count() == 3  # every expired row gone, the live ones kept
