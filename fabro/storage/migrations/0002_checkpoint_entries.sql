-- fabro schema, version 2: checkpoints stored incrementally (see fabro/storage/checkpoints.py).
-- A checkpoint's maps and lists ("sections": context_values, node_outcomes, completed_nodes,
-- ...) get one row per entry, so the per-stage commit writes only what the stage changed.
-- `checkpoints.data` then holds the rest of the checkpoint with an empty container in place of
-- each section; rows written before this version (incremental = 0) hold the whole checkpoint.

ALTER TABLE checkpoints ADD COLUMN incremental INTEGER NOT NULL DEFAULT 0;

CREATE TABLE checkpoint_entries (
    run_id  TEXT NOT NULL REFERENCES runs (id),
    section TEXT NOT NULL,      -- the checkpoint key of the map or list
    pos     INTEGER NOT NULL,   -- insertion order of a map entry, index of a list item
    key     TEXT,               -- the map key; NULL for list items
    value   TEXT NOT NULL,      -- compact JSON
    PRIMARY KEY (run_id, section, pos)
) WITHOUT ROWID;
