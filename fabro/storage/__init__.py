"""Durable state. All SQL lives in this package; callers get dataclasses.

``store.Store`` is what the scheduler, the run lifecycle, the engine's questions and steering,
the API and ``fabro run`` use; ``session_store.SessionStore`` holds the chat sessions.
``sqlite_store.SqliteStore`` and ``sqlite_sessions.SqliteSessionStore`` implement them over
one SQLite database: ``db.Database`` (connections and reads), ``writer`` (the single write
path), ``migrate`` (the schema) and the repositories of SQL (``runs``, ``events``,
``stages``, ``questions``, ``steering``, ``sessions``, ``checkpoints``). A PostgreSQL
backend would implement both protocols; only the modules that open the database
(services.py, startup.py, standalone/run.py) name SQLite.
"""
