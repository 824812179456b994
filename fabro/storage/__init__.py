"""Durable state in SQLite. All SQL lives in this package; callers get dataclasses.

``db.Database`` owns the connections and the single write path; ``runs`` (and later
``stages``, ``questions``, ``sessions``) are the repositories. A PostgreSQL store would
provide the same repository functions over its own ``Database``.
"""
