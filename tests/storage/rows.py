"""Rows the storage, engine and API tests start from."""

from __future__ import annotations

from fabro.clock import now_ts
from fabro.storage.records import RunRecord


def make_run(run_id: str, created_at: str | None = None) -> RunRecord:
    """A queued run record with a trivial graph."""
    ts = created_at or now_ts()
    return RunRecord(
        id=run_id,
        status="queued",
        title="t",
        graph_name="G",
        dot_source="digraph G {}",
        prepared_graph={"nodes": []},
        created_at=ts,
        updated_at=ts,
    )
