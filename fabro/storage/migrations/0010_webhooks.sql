-- fabro schema, version 10: signed webhooks (issue 19).
--
-- A subscription (`webhooks`) says where to POST which event types. The dispatcher reads
-- committed run events (run_events' rowid is their global order) and receipt entries (their
-- seq) after the cursors in `webhook_cursor`, and in ONE transaction stores each matching event
-- once (`webhook_events`), a delivery per subscription that wants it (`webhook_deliveries`)
-- and the advanced cursors: after a crash nothing is lost, and nothing is queued twice (the
-- UNIQUE (webhook_id, event_id) says so to the database too). The sender POSTs due deliveries
-- and logs each attempt (`webhook_attempts`); a failed one is due again later (next_attempt_at,
-- unix seconds), so retries survive a restart.

CREATE TABLE webhooks (
    id                   TEXT PRIMARY KEY,
    url                  TEXT NOT NULL,
    event_types          TEXT NOT NULL,             -- JSON list of event type names
    workflow             TEXT,                      -- only runs of this registry workflow
    labels               TEXT NOT NULL DEFAULT '{}',-- only runs carrying every one of these
    enabled              INTEGER NOT NULL DEFAULT 1,
    disabled_reason      TEXT,
    secret               TEXT NOT NULL,             -- sealed when `sealed`, else the secret
    sealed               INTEGER NOT NULL DEFAULT 0,
    after_event          INTEGER NOT NULL,          -- run_events rowid when it was created
    after_receipt        INTEGER NOT NULL,          -- receipt_entries seq when it was created
    failures_in_a_row    INTEGER NOT NULL DEFAULT 0,
    failing_since        REAL,                      -- unix seconds of the streak's first failure
    created_by           TEXT,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
CREATE INDEX webhooks_by_created ON webhooks (created_at DESC, id DESC);

-- One row: how far the dispatcher has read.
CREATE TABLE webhook_cursor (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    events_after    INTEGER NOT NULL,
    receipts_after  INTEGER NOT NULL
);
-- Events and receipts written before webhooks existed are history, not news.
INSERT INTO webhook_cursor (id, events_after, receipts_after) VALUES (
    1,
    (SELECT coalesce(max(rowid), 0) FROM run_events),
    (SELECT coalesce(max(seq), 0) FROM receipt_entries)
);

-- An event as sent: its body is stored once, whatever the number of subscriptions.
CREATE TABLE webhook_events (
    id          TEXT PRIMARY KEY,                   -- the body's "id"
    type        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    body        TEXT NOT NULL                       -- the JSON the receiver gets, signed as is
);

CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,              -- Fabro-Delivery: the same on every retry
    webhook_id       TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id         TEXT NOT NULL REFERENCES webhook_events (id),
    status           TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  REAL,                          -- unix seconds; NULL once it is over
    response_code    INTEGER,                       -- of the last attempt
    response_body    TEXT,                          -- of the last attempt, cut
    error            TEXT,                          -- of the last attempt: why it failed
    latency_ms       INTEGER,
    created_at       TEXT NOT NULL,
    created_s        REAL NOT NULL,                 -- unix seconds: retries stop 24 h after
    updated_at       TEXT NOT NULL,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, created_at DESC, id DESC);

CREATE TABLE webhook_attempts (
    delivery_id    TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    n              INTEGER NOT NULL,
    at             TEXT NOT NULL,
    response_code  INTEGER,
    latency_ms     INTEGER NOT NULL,
    error          TEXT,
    PRIMARY KEY (delivery_id, n)
) WITHOUT ROWID;
