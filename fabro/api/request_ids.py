"""`X-Request-Id`: every answer carries one, the client's own when it is sane, else a new ULID,
so a client, the server's log and the audit log can name the same request."""

from __future__ import annotations

import re

from ulid import ULID

REQUEST_ID = "X-Request-Id"
_SANE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


def request_id_for(given: str | None) -> str:
    """``given`` (the request's header) when it is sane, else a new ULID."""
    return given if given is not None and _SANE_ID.fullmatch(given) else str(ULID())
