"""What the endpoints of every area build their requests with: a route's path made of
segments that cannot change it, the Idempotency-Key of a call that acts, and what their
programs read of the client."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from fabro.auth.client import ClientSettings
from fabro.client.retry import RetryPolicy

JsonObject = dict[str, Any]


def segment(value: str) -> str:
    """``value`` as one path segment (a slash or a dot-dot never changes the route)."""
    if not value:
        raise ValueError("An id or name in a path cannot be empty.")
    if not value.strip("."):
        # "." and ".." are unreserved, so quote() keeps them and httpx would resolve them
        # (/runs/.. is /): encoded, they reach the server as a name like any other.
        return "%2E" * len(value)
    return quote(value, safe="")


def once(key: str | None = None) -> dict[str, str]:
    """The Idempotency-Key header of a call that acts (``key``, or a new one): the call object
    is sent again on a retry, so the server replays its first answer instead of acting twice."""
    return {"Idempotency-Key": key or f"sdk-{uuid.uuid4()}"}


def run_path(run_id: str, *rest: str) -> str:
    """The path of a run's route: ``run_path(id, "events")`` is ``/runs/{id}/events``."""
    return "/".join(("/runs", segment(run_id), *rest))


class ClientParts:
    """What an area's own programs (fabro/client/core.py) read of the client they are
    methods of; ``Configured`` sets them."""

    settings: ClientSettings
    retry: RetryPolicy
