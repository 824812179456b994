"""Headers on every API response: app.py adds them after each Quart request, and the fast
lane (fastlane.py) sends the same ones."""

from __future__ import annotations

DEFAULT_HEADERS = {"Cache-Control": "no-store"}  # unless the route set its own
FIXED_HEADERS = {"X-Content-Type-Options": "nosniff"}
JSON_CONTENT_TYPE = "application/json; charset=utf-8"  # api.md §1: JSON everywhere
# An answer without a body has no media type: Quart gives every response one by default, and
# the original's generated clients parse a 202/204 with a Content-Type as a body to read.
BODILESS_STATUSES = frozenset({202, 204})
