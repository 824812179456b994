"""Durable state. All SQL lives in this package; callers get dataclasses.

``store.Store`` is what the scheduler, the run lifecycle and the engine's questions and
steering use; ``sqlite_store.SqliteStore`` implements it over one SQLite database:
``db.Database`` (connections and reads), ``writer`` (the single write path), ``migrate``
(the schema) and the repositories of SQL (``runs``, ``events``, ``stages``, ``questions``,
``steering``, ``sessions``, ``checkpoints``). A PostgreSQL backend would implement ``Store``.
"""
