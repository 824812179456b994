-- fabro schema, version 9: the audit log (issue 19), one record per request that changed
-- something, per sign-in and sign-out, and per refused access (401, 403).
--
-- Append-only and hash-chained like the receipts (0007): each record's hash covers the
-- previous record's hash, its request id and its body (fabro/governance/receipts.py), so an
-- edit or a deleted record is found by `GET /audit-logs/verify` even by someone who dropped
-- the triggers below. The body (canonical JSON) is the one copy of a record's content; the
-- columns the filters use are generated from it (VIRTUAL: stored only in their indexes).

CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY,   -- 1, 2, 3, ...: a gap is a deleted record
    request_id TEXT NOT NULL,
    body       TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,         -- the previous record's hash (64 zeros for the first)
    hash       TEXT NOT NULL,
    at         TEXT GENERATED ALWAYS AS (json_extract(body, '$.at')) VIRTUAL,
    principal  TEXT GENERATED ALWAYS AS (json_extract(body, '$.principal')) VIRTUAL,
    action     TEXT GENERATED ALWAYS AS (json_extract(body, '$.action')) VIRTUAL,
    result     TEXT GENERATED ALWAYS AS (json_extract(body, '$.result')) VIRTUAL
);
CREATE INDEX audit_log_by_time ON audit_log (at);
CREATE INDEX audit_log_by_principal ON audit_log (principal);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
