"""Resource lookups shared by the route modules, with the spec's 404 details."""

from __future__ import annotations

from fabro.api.context import services
from fabro.errors import NotFound
from fabro.storage.records import RunRecord


async def run_or_404(run_id: str) -> RunRecord:
    """The run, or 404 `Run not found.` (the detail of every /runs/{id}/... route)."""
    run = await services().store.get_run(run_id)
    if run is None:
        raise NotFound("Run not found.")
    return run
