-- fabro schema, version 6: the web UI's sign-in sessions and used sign-in links.
-- A session is found by the SHA-256 of its cookie's value: the value itself is never stored,
-- so reading the database does not sign anyone in. Sign-out and expiry end a session; its row
-- stays until it has expired, so that a revoked cookie can never come back.

CREATE TABLE ui_sessions (
    id_hash    TEXT PRIMARY KEY,   -- hex SHA-256 of the cookie value
    login      TEXT NOT NULL,
    method     TEXT NOT NULL CHECK (method IN ('link', 'token', 'mtls')),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX ui_sessions_by_expiry ON ui_sessions (expires_at);

-- A sign-in link opens one session: its token's `jti` is recorded when it is used.
CREATE TABLE ui_signin_links (
    jti        TEXT PRIMARY KEY,
    used_at    TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
