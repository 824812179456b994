"""A run's endpoints: start one, read one or a list, cancel, pause and unpause, follow its
events (or every run's) and wait for its end."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

from fabro.api.bodies.runs import (
    PaginatedRunList,
    RunListItem,
    RunStatusResponse,
    StartRunRequest,
    StartRunResponse,
)
from fabro.client.calls import Call, PagedCall
from fabro.client.core import Events, Program, each_kept, following, sending, waiting
from fabro.client.endpoints.shared import ClientParts, once, run_path
from fabro.client.errors import FabroApiError
from fabro.client.methods import endpoint, events, paged, program
from fabro.client.streams import (
    EventFollower,
    StreamedGlobalEvent,
    StreamedRunEvent,
    events_path,
    global_event,
    run_event,
)


def _get(run_id: str) -> Call[RunStatusResponse]:
    return Call("GET", run_path(run_id), RunStatusResponse, retry_safe=True)


def _act(run_id: str, action: str) -> Call[RunStatusResponse]:
    path = run_path(run_id, action)
    return Call("POST", path, RunStatusResponse, headers=once(), retry_safe=True)


class RunEndpoints(ClientParts):
    """Runs: starting, reading, controlling and following them."""

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
        """`POST /runs`: start a run of DOT text, of a registry ``workflow``, or of a local
        ``file`` as `fabro runs start FILE` reads it: a .dot or .fabro file with its `@file`
        goal and prompts inlined from its folder, or a .toml run configuration whose goal,
        vars and labels the arguments override (its warnings are Python warnings;
        WorkflowSourceError for a file it cannot use; the file is read when the method is
        called, before anything is sent, on the async client too). The request carries an
        Idempotency-Key (a new one when none is given), so a retry after a dropped answer
        never makes a second run."""
        if file is not None:
            if dot_source is not None or workflow is not None:
                raise ValueError("Give one of dot_source, workflow and file.")
            # Imported here: the workflow parser is needed only to start from a file.
            from fabro.client.start import file_request

            read, notes = file_request(file)
            for note in notes:
                warnings.warn(note, UserWarning, stacklevel=3)
            dot_source = read["dot_source"]
            goal = goal if goal is not None else read.get("goal")
            vars = {**read.get("vars", {}), **(vars or {})} or None
            labels = {**read.get("labels", {}), **(labels or {})} or None
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
        return _get(run_id)

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
        return _act(run_id, "cancel")

    @endpoint
    def pause_run(self, run_id: str) -> Call[RunStatusResponse]:
        """`POST /runs/{id}/pause`."""
        return _act(run_id, "pause")

    @endpoint
    def unpause_run(self, run_id: str) -> Call[RunStatusResponse]:
        """`POST /runs/{id}/unpause`."""
        return _act(run_id, "unpause")

    @program
    def cancel_runs(
        self, run_ids: Iterable[str]
    ) -> Program[dict[str, RunStatusResponse | FabroApiError]]:
        """`POST /runs/{id}/cancel` of several runs: each run's new status, or the error its
        cancel got (a ConflictError for a run already over), so that one refusal stops none
        of the others. A repeated id is cancelled once; the async client sends a few at
        once."""
        return each_kept(
            run_ids, lambda run_id: sending(_act(run_id, "cancel"), self.retry, self.settings)
        )

    # ---- following -----------------------------------------------------------------------

    @events
    def stream_run_events(
        self, run_id: str, *, after: int = 0, timeout: float | None = None
    ) -> Events[StreamedRunEvent]:
        """`GET /runs/{id}/events`: the run's events after ``after`` (an event's ``seq``),
        each exactly once and in order, until the run has no more: reconnecting with
        Last-Event-ID after a dropped connection or a server restart
        (fabro/client/streams.py). ``timeout``: seconds in all (TimeoutError after)."""
        path = run_path(run_id, "events")
        return following(EventFollower(self.settings, path, after, run_event), timeout)

    @program
    def wait_for_run(
        self, run_id: str, *, timeout: float | None = None
    ) -> Program[RunStatusResponse]:
        """`GET /runs/{id}/events` followed to its end, then `GET /runs/{id}`: the run once
        it is completed, failed or cancelled, following its events (not polling);
        TimeoutError after ``timeout`` seconds."""
        follower = EventFollower(self.settings, run_path(run_id, "events"), 0, run_event)
        return waiting(follower, timeout, sending(_get(run_id), self.retry, self.settings))

    @events
    def stream_events(
        self,
        *,
        after: int = 0,
        run: str | None = None,
        workflow: str | None = None,
        labels: Mapping[str, str] | None = None,
        types: Iterable[str] = (),
        timeout: float | None = None,
    ) -> Events[StreamedGlobalEvent]:
        """`GET /events`: every run's events after the global position ``after`` (an
        event's ``position``), each exactly once and in order, or those of one ``run``, of
        one registry ``workflow``'s runs, of runs with every one of ``labels``, of the event
        ``types`` (variants); the stream stays open, reconnecting with Last-Event-ID across
        server restarts: stop reading when done. ``timeout``: seconds in all (TimeoutError
        after)."""
        path = events_path(run, workflow, labels, types)
        return following(EventFollower(self.settings, path, after, global_event), timeout)
