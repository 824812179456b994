"""Bodies of the workflow registry, verifications, sign-offs, retrospectives, saved queries,
usage and the server's configuration (api.md §7-§13)."""

from __future__ import annotations

from typing import Any, Literal

from msgspec import UNSET

from fabro.api.bodies.common import (
    Body,
    JsonObject,
    LlmConfig,
    Opt,
    Page,
    UsageByModel,
    UsageNumbers,
    WorkflowRef,
)
from fabro.api.bodies.runs import RunConfiguration
from fabro.api.bodies.stages import RetroStats

SignoffStatus = Literal["pass", "fail", "pending"]


class LastRun(Body):
    ran_at: str


class WorkflowListItem(Body):
    name: str
    slug: str
    filename: str
    last_run: Opt[LastRun] = UNSET
    schedule: Opt[JsonObject] = UNSET


class PaginatedWorkflowList(Page[WorkflowListItem]):
    pass


class WorkflowDetail(Body):
    name: str
    slug: str
    filename: str
    description: str
    config: RunConfiguration
    graph: str


class VerificationControl(Body):
    name: str
    slug: str
    description: str
    type: str
    mode: Opt[Literal["active", "evaluate", "disabled"]] = UNSET
    f1: Opt[float] = UNSET
    pass_at_1: Opt[float] = UNSET


class VerificationCriterionDetail(Body):
    name: str
    question: str
    controls: list[VerificationControl]


class PaginatedVerificationCriterionList(Page[VerificationCriterionDetail]):
    pass


class PaginatedVerificationControlList(Page[VerificationControl]):
    pass


class VerificationDetailResponse(Body):
    control: JsonObject
    performance: JsonObject
    control_detail: JsonObject
    recent_results: list[JsonObject]
    siblings: list[JsonObject]


class Signoff(Body):
    id: str
    control: JsonObject
    repository: JsonObject
    commit_sha: str
    status: SignoffStatus
    created_at: str
    url: Opt[str] = UNSET
    description: Opt[str] = UNSET
    source: Opt[str] = UNSET


class PaginatedSignoffList(Page[Signoff]):
    pass


class CreateSignoffRequest(Body):
    control: str
    repository: str
    commit_sha: str
    status: SignoffStatus
    url: str | None = None
    description: str | None = None
    source: str | None = None


class RetroListItem(Body):
    run: JsonObject
    workflow: WorkflowRef
    timestamp: str
    stats: RetroStats
    friction_point_count: int
    smoothness: Opt[str] = UNSET


class PaginatedRetroList(Page[RetroListItem]):
    pass


class SavedQuery(Body):
    id: str
    name: str
    sql: str
    created_at: str
    updated_at: str


class PaginatedSavedQueryList(Page[SavedQuery]):
    pass


class SaveQueryRequest(Body):
    name: str
    sql: str


class ExecuteQueryRequest(Body):
    sql: str


class ExecuteQueryResponse(Body):
    columns: list[str]
    rows: list[list[Any]]
    elapsed: float
    row_count: int


class HistoryEntry(Body):
    id: str
    sql: str
    timestamp: str
    elapsed: float
    row_count: int


class PaginatedHistoryEntryList(Page[HistoryEntry]):
    pass


class UsageGroupTotals(Body, kw_only=True):
    """One group of `GET /usage?group_by=...`: the value of each grouping asked for, then the
    group's totals (fabro)."""

    day: Opt[str] = UNSET  # UTC, YYYY-MM-DD
    model: Opt[str] = UNSET
    workflow: Opt[str | None] = UNSET  # the registry slug; null: pasted or uploaded DOT
    user: Opt[str | None] = UNSET  # who started the runs; null: not known
    runs: int
    stages: int
    usage: UsageNumbers
    runtime_secs: float


class AggregateUsage(Body):
    totals: JsonObject
    by_model: list[UsageByModel]
    groups: Opt[list[UsageGroupTotals]] = UNSET  # with `group_by` only (fabro)


class ServerConfiguration(Body):
    data_dir: str
    max_concurrent_runs: int
    web: JsonObject
    api: JsonObject
    log: JsonObject
    workflows_dir: Opt[str] = UNSET
    llm: Opt[LlmConfig] = UNSET
