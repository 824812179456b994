"""The server's own endpoints: whether it answers, who it takes the client for, its settings
and usage, its workflows registry and its OpenAPI document."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from fabro.api.bodies.catalog import (
    AggregateUsage,
    PaginatedWorkflowList,
    ServerConfiguration,
    WorkflowDetail,
    WorkflowListItem,
)
from fabro.api.bodies.common import HealthResponse, RootResponse, UserResponse
from fabro.api.bodies.runs import PaginatedRunList, RunListItem
from fabro.client.calls import Call, PagedCall
from fabro.client.endpoints.shared import JsonObject, segment
from fabro.client.methods import endpoint, paged


class ServerEndpoints:
    """The server, its registry and its API document."""

    # ---- the server ----------------------------------------------------------------------

    @endpoint
    def get_root(self) -> Call[RootResponse]:
        """`GET /`: the discovery document, whose ``urls`` name the API's entry points
        (``openapi_url``, ``current_user_url``, ``health_url``); no credentials needed."""
        # Asked as JSON: a browser's Accept gets a redirect to the web UI instead.
        headers = {"Accept": "application/json"}
        return Call("GET", "/", RootResponse, headers=headers, retry_safe=True)

    @endpoint
    def health(self) -> Call[HealthResponse]:
        """`GET /health`: whether the server answers (no credentials needed)."""
        return Call("GET", "/health", HealthResponse, retry_safe=True)

    @endpoint
    def get_user(self) -> Call[UserResponse]:
        """`GET /user`: who the server takes this client for."""
        return Call("GET", "/user", UserResponse, retry_safe=True)

    @endpoint
    def get_settings(self) -> Call[ServerConfiguration]:
        """`GET /settings`: the server's configuration, secrets left out."""
        return Call("GET", "/settings", ServerConfiguration, retry_safe=True)

    @endpoint
    def get_usage(
        self,
        *,
        group_by: Sequence[str] = (),
        since: str | date | None = None,
        until: str | date | None = None,
    ) -> Call[AggregateUsage]:
        """`GET /usage`: tokens and cost over every run, or over [``since``, ``until``) (dates,
        the last one included, or aware datetimes); ``group_by`` (``day``, ``model``,
        ``workflow``, ``user``) adds the totals per group."""
        params: dict[str, str | int] = {}
        if group_by:
            params["group_by"] = ",".join(group_by)
        for name, moment in (("since", since), ("until", until)):
            if moment is not None:
                params[name] = moment if isinstance(moment, str) else moment.isoformat()
        return Call("GET", "/usage", AggregateUsage, params=params, retry_safe=True)

    # ---- the workflows registry ----------------------------------------------------------

    @paged
    def list_workflows(self) -> PagedCall[WorkflowListItem]:
        """`GET /workflows`: the registry."""
        return PagedCall("/workflows", PaginatedWorkflowList)

    @endpoint
    def get_workflow(self, name: str) -> Call[WorkflowDetail]:
        """`GET /workflows/{name}`."""
        return Call("GET", f"/workflows/{segment(name)}", WorkflowDetail, retry_safe=True)

    @paged
    def list_workflow_runs(self, name: str) -> PagedCall[RunListItem]:
        """`GET /workflows/{name}/runs`: a registry workflow's runs, newest first."""
        return PagedCall(f"/workflows/{segment(name)}/runs", PaginatedRunList)

    # ---- the API itself ------------------------------------------------------------------

    @endpoint
    def get_openapi(self) -> Call[JsonObject]:
        """`GET /openapi.json`: the OpenAPI document of the server's API."""
        return Call("GET", "/openapi.json", JsonObject, retry_safe=True)
