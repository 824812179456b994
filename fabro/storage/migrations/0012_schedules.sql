-- fabro schema, version 12: cron schedules of registry workflows (issue 19) and their fires.
-- A schedule's next fire is kept as a UTC instant (fabro's sortable timestamp text), computed
-- in the schedule's own time zone; the ticker starts every due fire whose schedule is not
-- paused. Each fire starts its run with the Idempotency-Key `schedule:<id>:<scheduled time>`
-- (idempotency_keys), so a restart or a second ticker never starts one fire twice.

CREATE TABLE schedules (
    id            TEXT PRIMARY KEY,   -- a ULID
    workflow      TEXT NOT NULL,      -- the registry workflow's slug
    cron          TEXT NOT NULL,
    time_zone     TEXT NOT NULL,      -- an IANA name
    vars          TEXT NOT NULL,      -- JSON object of strings
    labels        TEXT NOT NULL,      -- JSON object of strings
    goal          TEXT,
    title         TEXT,
    missed        TEXT NOT NULL CHECK (missed IN ('skip', 'run_once')),
    paused        INTEGER NOT NULL DEFAULT 0,
    created_by    TEXT NOT NULL,      -- the login the runs are started as
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    next_fire_at  TEXT NOT NULL,      -- UTC; while paused, the fire due when it was paused
    last_fire_at  TEXT                -- the scheduled time of the last fire handled
);
CREATE INDEX schedules_by_workflow ON schedules (workflow, created_at);
CREATE INDEX schedules_due ON schedules (paused, next_fire_at);

-- What became of each fire: a run started, refused (the policy, a workflow gone), or skipped
-- (missed while the server was down: one row for all of them, with their count).
CREATE TABLE schedule_fires (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule_id   TEXT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('cron', 'trigger')),
    scheduled_at  TEXT NOT NULL,      -- UTC
    status        TEXT NOT NULL CHECK (status IN ('started', 'refused', 'skipped')),
    run_id        TEXT,
    detail        TEXT,               -- why refused or skipped; how many fires were missed
    missed_count  INTEGER NOT NULL DEFAULT 0,
    recorded_at   TEXT NOT NULL,
    UNIQUE (schedule_id, kind, scheduled_at)
);
