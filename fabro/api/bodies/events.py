"""The body of one frame of the global event stream (`GET /events`, issue 19)."""

from __future__ import annotations

from typing import Any

from fabro.api.bodies.common import Body


class GlobalEvent(Body):
    """A run's event in the global stream: the frame's `id:` is its global position."""

    run_id: str
    seq: int  # the event's sequence in its run (its id in `GET /runs/{id}/events`)
    event: dict[str, Any]  # the externally tagged event, e.g. {"StageStarted": {...}}
