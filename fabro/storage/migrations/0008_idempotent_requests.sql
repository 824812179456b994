-- fabro schema, version 8: Idempotency-Key on the POSTs that create or act (besides POST /runs,
-- whose keys are in idempotency_keys). A key is claimed (`pending`) before the request runs and
-- holds the response once it succeeded (`done`): a repeat within the window gets that response
-- again. A failed request deletes its claim; a claim left pending by a crash is deleted at
-- startup. Rows older than the window are pruned a few at a time by later claims.

CREATE TABLE idempotent_requests (
    principal    TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,      -- hex SHA-256 of the method, the path and the body
    state        TEXT NOT NULL CHECK (state IN ('pending', 'done')),
    status       INTEGER,            -- the response, once done
    headers      TEXT,               -- JSON [[name, value], ...]: the headers a replay repeats
    body         BLOB,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (principal, key)
);
CREATE INDEX idempotent_requests_by_age ON idempotent_requests (created_at);
