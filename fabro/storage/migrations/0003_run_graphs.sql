-- fabro schema, version 3: a run's DOT source and prepared graph in a table of their own.
-- They are written once and can be large (the prepared graph of a 1,000-node workflow is
-- some 200 KB), while the engine updates the run's row at every stage (current_node,
-- updated_at): an UPDATE makes SQLite rebuild the whole row, and with them in it that cost
-- each per-stage commit tens of microseconds. Run lists and status reads never need them.

CREATE TABLE run_graphs (
    run_id         TEXT PRIMARY KEY REFERENCES runs (id),
    dot_source     TEXT NOT NULL,
    prepared_graph TEXT NOT NULL
);

INSERT INTO run_graphs (run_id, dot_source, prepared_graph)
    SELECT id, dot_source, prepared_graph FROM runs;

ALTER TABLE runs DROP COLUMN dot_source;
ALTER TABLE runs DROP COLUMN prepared_graph;
