-- fabro schema, version 11: secrets (issue 19). A value is stored sealed, never in clear: the
-- nonce and XSalsa20-Poly1305 ciphertext of PyNaCl's SecretBox (fabro/secrets/box.py) under the
-- key file <data_dir>/keys/secrets.key. key_id names the key that sealed it (a digest of the
-- key, not the key): a rotation re-seals every row in one transaction, and the key_id of the
-- rows tells a restart whether that transaction committed (fabro/secrets/vault.py).

CREATE TABLE secrets (
    name       TEXT PRIMARY KEY,    -- [A-Za-z_][A-Za-z0-9_]{0,127}: an environment variable's
    ciphertext BLOB NOT NULL,
    key_id     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;
