-- fabro schema, version 1: everything the spec stores (engine.md §4.2, api.md §11).
-- Timestamps are RFC 3339 UTC strings with milliseconds ("2026-03-12T10:15:02.123Z"), so
-- they sort as text. JSON columns hold compact JSON text.

CREATE TABLE runs (
    id              TEXT PRIMARY KEY,
    status          TEXT NOT NULL CHECK (status IN
                        ('queued', 'starting', 'running', 'paused', 'completed', 'failed', 'cancelled')),
    title           TEXT NOT NULL,
    workflow_slug   TEXT,
    graph_name      TEXT NOT NULL,
    goal            TEXT NOT NULL DEFAULT '',
    labels          TEXT NOT NULL DEFAULT '{}',
    vars            TEXT NOT NULL DEFAULT '{}',
    dot_source      TEXT NOT NULL,
    source_name     TEXT NOT NULL DEFAULT 'graph.dot',
    prepared_graph  TEXT NOT NULL,
    config          TEXT NOT NULL DEFAULT '{}',
    warnings        TEXT NOT NULL DEFAULT '[]',
    dry_run         INTEGER NOT NULL DEFAULT 0,
    error_message   TEXT,
    current_node    TEXT,
    pause_requested INTEGER NOT NULL DEFAULT 0,
    owner_pid       INTEGER,
    created_by      TEXT,
    created_at      TEXT NOT NULL,
    started_at      TEXT,
    finished_at     TEXT,
    updated_at      TEXT NOT NULL
);
CREATE INDEX runs_by_created ON runs (created_at DESC, id DESC);
CREATE INDEX runs_by_status ON runs (status, created_at, id);
CREATE INDEX runs_by_workflow ON runs (workflow_slug, created_at DESC, id DESC);

-- Append-only; seq is per run, from 1, and is the SSE id.
CREATE TABLE run_events (
    run_id      TEXT NOT NULL REFERENCES runs (id),
    seq         INTEGER NOT NULL,
    ts          TEXT NOT NULL,
    variant     TEXT NOT NULL,
    child_depth INTEGER NOT NULL DEFAULT 0,
    payload     TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

CREATE TABLE checkpoints (
    run_id     TEXT PRIMARY KEY REFERENCES runs (id),
    data       TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE stages (
    run_id             TEXT NOT NULL REFERENCES runs (id),
    stage_id           TEXT NOT NULL,
    node_id            TEXT NOT NULL,
    name               TEXT NOT NULL,
    visit              INTEGER NOT NULL,
    ordinal            INTEGER NOT NULL,   -- execution order within the run
    stage_index        INTEGER NOT NULL,
    handler_type       TEXT,
    parallel_parent    TEXT,               -- stage id of the parallel node for branch stages
    status             TEXT NOT NULL CHECK (status IN
                           ('running', 'completed', 'failed', 'cancelled')),
    attempts           INTEGER NOT NULL DEFAULT 1,
    started_at         TEXT NOT NULL,
    finished_at        TEXT,
    duration_ms        INTEGER,
    outcome            TEXT,
    model              TEXT,
    input_tokens       INTEGER NOT NULL DEFAULT 0,
    output_tokens      INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens  INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens   INTEGER NOT NULL DEFAULT 0,
    cost               REAL,
    PRIMARY KEY (run_id, stage_id)
) WITHOUT ROWID;
CREATE INDEX stages_by_order ON stages (run_id, ordinal);
CREATE INDEX stages_by_model ON stages (model);

CREATE TABLE stage_turns (
    run_id     TEXT NOT NULL,
    stage_id   TEXT NOT NULL,
    n          INTEGER NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('system', 'assistant', 'tool')),
    content    TEXT,
    tools      TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (run_id, stage_id, n),
    FOREIGN KEY (run_id, stage_id) REFERENCES stages (run_id, stage_id)
) WITHOUT ROWID;

CREATE TABLE questions (
    run_id         TEXT NOT NULL REFERENCES runs (id),
    qid            TEXT NOT NULL,
    n              INTEGER NOT NULL,
    stage_id       TEXT NOT NULL,
    node_id        TEXT NOT NULL,
    text           TEXT NOT NULL,
    question_type  TEXT NOT NULL,
    options        TEXT NOT NULL DEFAULT '[]',
    allow_freeform INTEGER NOT NULL DEFAULT 0,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'answered', 'expired', 'withdrawn')),
    answer         TEXT,
    answered_by    TEXT,
    created_at     TEXT NOT NULL,
    answered_at    TEXT,
    PRIMARY KEY (run_id, qid),
    UNIQUE (run_id, n)
) WITHOUT ROWID;
CREATE INDEX questions_by_stage ON questions (run_id, stage_id, n);
CREATE INDEX questions_pending ON questions (status, run_id, n);

CREATE TABLE steering (
    run_id            TEXT NOT NULL REFERENCES runs (id),
    n                 INTEGER NOT NULL,
    guidance          TEXT NOT NULL,
    location          TEXT,
    created_by        TEXT,
    created_at        TEXT NOT NULL,
    consumed_at       TEXT,
    consumed_by_stage TEXT,
    PRIMARY KEY (run_id, n)
) WITHOUT ROWID;

CREATE TABLE idempotency_keys (
    principal    TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    run_id       TEXT NOT NULL REFERENCES runs (id),
    created_at   TEXT NOT NULL,
    PRIMARY KEY (principal, key)
) WITHOUT ROWID;

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    title      TEXT NOT NULL,
    model      TEXT NOT NULL,
    system     TEXT,
    created_by TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX sessions_by_updated ON sessions (updated_at DESC, id DESC);

CREATE TABLE session_turns (
    session_id TEXT NOT NULL REFERENCES sessions (id),
    n          INTEGER NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('user', 'assistant', 'tool')),
    content    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (session_id, n)
) WITHOUT ROWID;

-- seq starts at 0 for sessions (api.md §11).
CREATE TABLE session_events (
    session_id TEXT NOT NULL REFERENCES sessions (id),
    seq        INTEGER NOT NULL,
    event      TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;
