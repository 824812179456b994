-- fabro schema, version 5: the tables whose rows carry text (events, turns, the checkpoint
-- log, chat sessions) become rowid tables, keyed by a UNIQUE index on what was their primary
-- key. A WITHOUT ROWID table keeps at most about a quarter of a page of a row in the tree and
-- moves the rest to an overflow page of its own, so a 1.4 KB prompt event took two 4 KB
-- pages, and rows appended in key order split pages half full: in a 1,000-stage run, 54% of
-- run_events' pages and 68% of stage_turns' were unused, and every commit wrote them all to
-- the WAL. A rowid table packs appended rows into full pages.
--
-- And stages_by_model leaves out stages with no model: a stage starts without one, so each
-- stage moved its entry from the NULLs to its model, a second index page in each commit. The
-- one query by model (usage) asks for `model IS NOT NULL`.

DROP INDEX stages_by_model;
CREATE INDEX stages_by_model ON stages (model) WHERE model IS NOT NULL;

CREATE TABLE run_events_v5 (
    run_id      TEXT NOT NULL REFERENCES runs (id),
    seq         INTEGER NOT NULL,
    ts          TEXT NOT NULL,
    variant     TEXT NOT NULL,
    child_depth INTEGER NOT NULL DEFAULT 0,
    payload     TEXT NOT NULL,
    UNIQUE (run_id, seq)
);
INSERT INTO run_events_v5 (run_id, seq, ts, variant, child_depth, payload)
    SELECT run_id, seq, ts, variant, child_depth, payload FROM run_events ORDER BY run_id, seq;
DROP TABLE run_events;
ALTER TABLE run_events_v5 RENAME TO run_events;

CREATE TABLE stage_turns_v5 (
    run_id     TEXT NOT NULL,
    stage_id   TEXT NOT NULL,
    n          INTEGER NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('system', 'assistant', 'tool')),
    content    TEXT,
    tools      TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (run_id, stage_id, n),
    FOREIGN KEY (run_id, stage_id) REFERENCES stages (run_id, stage_id)
);
INSERT INTO stage_turns_v5 (run_id, stage_id, n, kind, content, tools, created_at)
    SELECT run_id, stage_id, n, kind, content, tools, created_at FROM stage_turns
    ORDER BY run_id, stage_id, n;
DROP TABLE stage_turns;
ALTER TABLE stage_turns_v5 RENAME TO stage_turns;

CREATE TABLE checkpoint_log_v5 (
    run_id      TEXT NOT NULL REFERENCES runs (id),
    seq         INTEGER NOT NULL,
    changes     TEXT NOT NULL,
    log_bytes   INTEGER NOT NULL,
    base_bytes  INTEGER NOT NULL,
    UNIQUE (run_id, seq)
);
INSERT INTO checkpoint_log_v5 (run_id, seq, changes, log_bytes, base_bytes)
    SELECT run_id, seq, changes, log_bytes, base_bytes FROM checkpoint_log ORDER BY run_id, seq;
DROP TABLE checkpoint_log;
ALTER TABLE checkpoint_log_v5 RENAME TO checkpoint_log;

CREATE TABLE session_turns_v5 (
    session_id TEXT NOT NULL REFERENCES sessions (id),
    n          INTEGER NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('user', 'assistant', 'tool')),
    content    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (session_id, n)
);
INSERT INTO session_turns_v5 (session_id, n, kind, content, created_at)
    SELECT session_id, n, kind, content, created_at FROM session_turns ORDER BY session_id, n;
DROP TABLE session_turns;
ALTER TABLE session_turns_v5 RENAME TO session_turns;

CREATE TABLE session_events_v5 (
    session_id TEXT NOT NULL REFERENCES sessions (id),
    seq        INTEGER NOT NULL,
    event      TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (session_id, seq)
);
INSERT INTO session_events_v5 (session_id, seq, event, data, created_at)
    SELECT session_id, seq, event, data, created_at FROM session_events ORDER BY session_id, seq;
DROP TABLE session_events;
ALTER TABLE session_events_v5 RENAME TO session_events;
