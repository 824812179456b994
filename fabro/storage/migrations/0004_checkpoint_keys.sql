-- fabro schema, version 4: a checkpoint map entry is found by its key.
-- The engine now hands the store the keys a stage set (engine/delta.py) instead of a diff
-- with positions, so an entry is replaced by (run, section, key) and a new one takes the
-- next position. List items have no key (NULL), which a UNIQUE index never compares equal.

CREATE UNIQUE INDEX checkpoint_entries_key ON checkpoint_entries (run_id, section, key);
