"""A run's endpoints: start one, read one or a list, cancel, pause and unpause."""

from __future__ import annotations

from pathlib import Path

from fabro.api.bodies.runs import (
    PaginatedRunList,
    RunListItem,
    RunStatusResponse,
    StartRunRequest,
    StartRunResponse,
)
from fabro.client.calls import Call, PagedCall, endpoint, paged
from fabro.client.endpoints.shared import once, run_path


class RunEndpoints:
    """Runs: starting, reading and controlling them."""

    @endpoint
    def start_run(
        self,
        dot_source: str | None = None,
        *,
        workflow: str | None = None,
        file: str | Path | None = None,
        goal: str | None = None,
        vars: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        title: str | None = None,
        idempotency_key: str | None = None,
    ) -> Call[StartRunResponse]:
        """`POST /runs`: start a run of DOT text, of a local ``file`` (read here, sent as DOT)
        or of a registry ``workflow``. The request carries an Idempotency-Key (a new one when
        none is given), so a retry after a dropped answer never makes a second run."""
        if file is not None:
            dot_source = Path(file).read_text(encoding="utf-8")
        body = StartRunRequest(
            dot_source=dot_source,
            workflow=workflow,
            goal=goal,
            vars=vars,
            labels=labels,
            title=title,
        )
        headers = once(idempotency_key)
        return Call("POST", "/runs", StartRunResponse, body=body, headers=headers, retry_safe=True)

    @endpoint
    def get_run(self, run_id: str) -> Call[RunStatusResponse]:
        """`GET /runs/{id}`: a run's status."""
        return Call("GET", run_path(run_id), RunStatusResponse, retry_safe=True)

    @paged
    def list_runs(
        self, *, status: list[str] | None = None, workflow: str | None = None
    ) -> PagedCall[RunListItem]:
        """`GET /runs`: every run, newest first (``status``: fabro's statuses to keep)."""
        params: dict[str, str | int] = {}
        if status:
            params["status"] = ",".join(status)
        if workflow:
            params["workflow"] = workflow
        return PagedCall("/runs", PaginatedRunList, params)

    @endpoint
    def get_runs_page(
        self,
        *,
        status: list[str] | None = None,
        workflow: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Call[PaginatedRunList]:
        """`GET /runs`, one page: ``limit`` runs (1 to 100; the server's default 20) after
        ``offset``, newest first (``list_runs`` walks every page)."""
        params: dict[str, str | int] = {}
        if status:
            params["status"] = ",".join(status)
        if workflow:
            params["workflow"] = workflow
        if limit is not None:
            params["page[limit]"] = limit
        if offset is not None:
            params["page[offset]"] = offset
        return Call("GET", "/runs", PaginatedRunList, params=params, retry_safe=True)

    @endpoint
    def cancel_run(self, run_id: str) -> Call[RunStatusResponse]:
        """`POST /runs/{id}/cancel` (ConflictError when the run cannot be cancelled)."""
        return Call(
            "POST", run_path(run_id, "cancel"), RunStatusResponse, headers=once(), retry_safe=True
        )

    @endpoint
    def pause_run(self, run_id: str) -> Call[RunStatusResponse]:
        """`POST /runs/{id}/pause`."""
        return Call(
            "POST", run_path(run_id, "pause"), RunStatusResponse, headers=once(), retry_safe=True
        )

    @endpoint
    def unpause_run(self, run_id: str) -> Call[RunStatusResponse]:
        """`POST /runs/{id}/unpause`."""
        return Call(
            "POST", run_path(run_id, "unpause"), RunStatusResponse, headers=once(), retry_safe=True
        )
