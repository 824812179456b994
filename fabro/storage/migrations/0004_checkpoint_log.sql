-- fabro schema, version 4: a checkpoint is a base document plus a log of changes.
-- The engine hands the store what each stage changed (engine/delta.py). Each write appends
-- one row here (its changes and the new head), instead of a row per changed map entry or
-- list item (version 2), which cost a page per section and per index at every commit. When
-- the log outgrows the base, the store folds it into a new base (storage/checkpoints.py).
-- `checkpoints.incremental`: 0 a whole document, 1 the base of version 2's entries, 2 the
-- base of this log.

CREATE TABLE checkpoint_log (
    run_id      TEXT NOT NULL REFERENCES runs (id),
    seq         INTEGER NOT NULL,   -- 1, 2, ... since the base was written
    changes     TEXT NOT NULL,      -- compact JSON: head, maps, lists, replaced sections
    log_bytes   INTEGER NOT NULL,   -- the size of the log up to and including this row
    base_bytes  INTEGER NOT NULL,   -- the size of the base it applies to
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
