-- fabro schema, version 7: receipts, one per action a run disposed of (issue 18).
--
-- An append-only, hash-chained log of entries: a receipt's `began` entry is written in the
-- same transaction as the action's start, its `ended` entry when the action is over (a
-- refused action gets both at once). Each entry's hash covers the previous entry's hash and
-- its own content (fabro/governance/receipts.py), so an edit, a deleted entry or a reordered
-- pair is found by `fabro receipts verify` even by someone who dropped the triggers below.
--
-- The body (canonical JSON) is the one copy of an entry's content: the columns the filters
-- use are generated from it (VIRTUAL: stored only in their indexes), so they can never say
-- something the hash does not cover.

CREATE TABLE receipt_entries (
    seq             INTEGER PRIMARY KEY,   -- 1, 2, 3, ...: a gap is a deleted entry
    receipt_id      TEXT NOT NULL,
    entry           TEXT NOT NULL CHECK (entry IN ('began', 'ended')),
    body            TEXT NOT NULL,
    prev_hash       TEXT NOT NULL,         -- the previous entry's hash (64 zeros for the first)
    hash            TEXT NOT NULL,
    run_id          TEXT GENERATED ALWAYS AS (json_extract(body, '$.run_id')) VIRTUAL,
    kind            TEXT GENERATED ALWAYS AS (json_extract(body, '$.kind')) VIRTUAL,
    decision        TEXT GENERATED ALWAYS AS (json_extract(body, '$.decision')) VIRTUAL,
    started_at      TEXT GENERATED ALWAYS AS (json_extract(body, '$.started_at')) VIRTUAL,
    idempotency_key TEXT GENERATED ALWAYS AS (json_extract(body, '$.idempotency_key')) VIRTUAL
);
CREATE UNIQUE INDEX receipt_entries_by_receipt ON receipt_entries (receipt_id, entry);
CREATE INDEX receipt_entries_by_run ON receipt_entries (run_id) WHERE entry = 'began';
-- Only the lookups on a hot path are indexed: a run's receipts (the API, the soak) and an
-- action's by its key (recovery). Filters by kind, decision or time scan newest first from
-- the end of the chain: each index costs every receipt a page write (docs/benchmarks.md).
CREATE INDEX receipt_entries_by_key ON receipt_entries (idempotency_key)
    WHERE entry = 'began' AND idempotency_key IS NOT NULL;

CREATE TRIGGER receipt_entries_no_update BEFORE UPDATE ON receipt_entries
BEGIN
    SELECT RAISE(ABORT, 'receipts are append-only');
END;

CREATE TRIGGER receipt_entries_no_delete BEFORE DELETE ON receipt_entries
BEGIN
    SELECT RAISE(ABORT, 'receipts are append-only');
END;
