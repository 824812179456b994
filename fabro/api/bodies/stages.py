"""Bodies of stages, retrospectives, files, usage and verifications of a run (api.md §6-§8)."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import UNSET, Meta

from fabro.api.bodies.common import (
    Body,
    IdName,
    JsonObject,
    ModelRef,
    Opt,
    Page,
    UsageByModel,
    UsageNumbers,
)


class StageRetro(Body):
    stage_id: str
    stage_label: str
    status: str
    duration_ms: int
    retries: int
    files_touched: list[str]
    cost: Opt[float] = UNSET
    notes: Opt[str] = UNSET
    failure_reason: Opt[str] = UNSET


class RetroStats(Body):
    total_duration_ms: int
    total_retries: int
    files_touched: list[str]
    stages_completed: int
    stages_failed: int
    total_cost: Opt[float] = UNSET


class RetroDetail(Body):
    run_id: str
    workflow_name: str
    goal: str
    timestamp: str
    stages: list[StageRetro]
    stats: RetroStats
    smoothness: Opt[Literal["effortless", "smooth", "bumpy", "struggled", "failed"]] = UNSET
    intent: Opt[str] = UNSET
    outcome: Opt[str] = UNSET
    learnings: Opt[list[JsonObject]] = UNSET
    friction_points: Opt[list[JsonObject]] = UNSET
    open_items: Opt[list[JsonObject]] = UNSET


StageStatus = Literal["completed", "failed", "running", "cancelled", "pending"]


class RunStage(Body):
    id: str
    name: str
    status: StageStatus
    dot_id: str
    duration_secs: Opt[float] = UNSET


class PaginatedRunStageList(Page[RunStage]):
    pass


class ToolUse(Body):
    id: str
    tool_name: str
    input: str
    result: str
    is_error: bool
    duration_ms: Opt[int] = UNSET


class StageTurn(Body):
    kind: Literal["system", "assistant", "tool"]
    content: Opt[str] = UNSET
    tools: Opt[list[ToolUse]] = UNSET


class PaginatedStageTurnList(Page[StageTurn]):
    pass


class StageArtifact(Body):
    """A file of a stage's folder; name is relative, with / (fabro)."""

    name: str
    size: Annotated[int, Meta(ge=0)]
    updated_at: str


class PaginatedStageArtifactList(Page[StageArtifact]):
    pass


class FileContents(Body):
    name: str
    contents: str


class FileDiff(Body):
    old_file: FileContents
    new_file: FileContents


class PaginatedRunFileList(Page[FileDiff]):
    pass


class UsageStage(Body):
    stage: IdName
    model: ModelRef
    usage: UsageNumbers
    runtime_secs: float


class RunUsage(Body):
    stages: list[UsageStage]
    totals: JsonObject
    by_model: list[UsageByModel]


class RunVerification(Body):
    name: str
    question: str
    status: str
    controls: list[JsonObject]


class PaginatedRunVerificationList(Page[RunVerification]):
    pass
