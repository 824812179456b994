"""Every API method of the SDK, written once: each builds the ``Call`` (or ``PagedCall``) of
one route, and ``@endpoint``/``@paged`` make it a method of ``FabroClient`` and of
``AsyncFabroClient`` (fabro/client/calls.py). Results are the server's own body types
(``fabro.api.bodies``): one source of truth for both ends."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from fabro.api.bodies.audit import AuditChainReport, AuditLogEntry, PaginatedAuditLogList
from fabro.api.bodies.catalog import (
    AggregateUsage,
    PaginatedWorkflowList,
    ServerConfiguration,
    WorkflowDetail,
    WorkflowListItem,
)
from fabro.api.bodies.common import HealthResponse, UserResponse
from fabro.api.bodies.completions import (
    CompletionMessage,
    CompletionResponse,
    CompletionTool,
    CompletionToolChoice,
    CreateCompletionRequest,
    Model,
    ModelTestResult,
    PaginatedModelList,
    TextPart,
)
from fabro.api.bodies.questions import ApiQuestion, PaginatedApiQuestionList, SubmitAnswerRequest
from fabro.api.bodies.receipts import PaginatedReceiptList, Receipt, ReceiptChainReport
from fabro.api.bodies.runs import (
    PaginatedRunList,
    RunCheckpoint,
    RunConfiguration,
    RunListItem,
    RunStatusResponse,
    StartRunRequest,
    StartRunResponse,
    SteerLocation,
    SteerRequest,
)
from fabro.api.bodies.schedules import (
    PaginatedScheduleFireList,
    PaginatedScheduleList,
    Schedule,
    ScheduleFire,
    UpdateScheduleRequest,
)
from fabro.api.bodies.secrets import (
    PaginatedSecretList,
    SecretItem,
    SecretRotation,
    SetSecretRequest,
)
from fabro.api.bodies.sessions import (
    CreateSessionRequest,
    CreateSessionResponse,
    PaginatedSessionList,
    SendMessageRequest,
    SendMessageResponse,
    SessionDetail,
    SessionListItem,
)
from fabro.api.bodies.stages import (
    PaginatedRunStageList,
    PaginatedStageArtifactList,
    PaginatedStageTurnList,
    RetroDetail,
    RunStage,
    RunUsage,
    StageArtifact,
    StageTurn,
)
from fabro.api.bodies.webhooks import (
    CreatedWebhook,
    CreateWebhookRequest,
    PaginatedWebhookDeliveryList,
    PaginatedWebhookList,
    UpdateWebhookRequest,
    Webhook,
    WebhookDelivery,
    WebhookEventType,
)
from fabro.client.calls import Call, PagedCall, endpoint, paged, streamed

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


def _stage(run_id: str, stage_id: str, *rest: str) -> str:
    return run_path(run_id, "stages", segment(stage_id), *rest)


def _schedules(workflow: str, *rest: str) -> str:
    """``/workflows/{name}/schedules[/{id}[/action]]``: the first of ``rest`` is an id."""
    parts = [segment(rest[0]), *rest[1:]] if rest else []
    return "/".join(("/workflows", segment(workflow), "schedules", *parts))


SIZE_HEADER = "Fabro-Artifact-Size"  # the file's size when the server read it


@dataclass(frozen=True)
class ArtifactPart:
    """Bytes of an artifact: from ``start`` to its end (``partial``: a 206 answered the
    Range; else the whole file came), or its last lines; ``size``: the file's size when the
    server read it, where the next read goes on."""

    data: bytes
    size: int
    partial: bool


@dataclass(frozen=True)
class _ArtifactCall(Call[ArtifactPart]):
    def decode(self, response: httpx.Response) -> ArtifactPart:
        try:
            size = int(response.headers.get(SIZE_HEADER, ""))
        except ValueError:
            size = -1  # an older server: the caller counts the bytes it got
        return ArtifactPart(response.content, size, response.status_code == 206)


class Endpoints:
    """The API's routes as methods; mixed into both clients."""

    # ---- the server ----------------------------------------------------------------------

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

    # ---- runs ----------------------------------------------------------------------------

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

    @endpoint
    def steer_run(
        self, run_id: str, guidance: str, *, file: str | None = None, line: int | None = None
    ) -> Call[None]:
        """`POST /runs/{id}/steer`: guidance the run's agent stages read at their next turn
        (``file``/``line``: where it is about). Retried safely: its Idempotency-Key makes the
        server replay a repeat instead of adding the guidance twice."""
        location = None if file is None else SteerLocation(file=file, line=line)
        body = SteerRequest(guidance=guidance, location=location)
        return Call(
            "POST", run_path(run_id, "steer"), None, body=body, headers=once(), retry_safe=True
        )

    # ---- questions -----------------------------------------------------------------------

    @paged
    def list_questions(self, run_id: str) -> PagedCall[ApiQuestion]:
        """`GET /runs/{id}/questions`: the questions the run waits on."""
        return PagedCall(run_path(run_id, "questions"), PaginatedApiQuestionList)

    @endpoint
    def answer_question(
        self,
        run_id: str,
        question_id: str,
        *,
        option: str | None = None,
        options: list[str] | None = None,
        value: str | None = None,
    ) -> Call[None]:
        """`POST /runs/{id}/questions/{qid}/answer`: by an option's key, several keys (a
        multi-select question) or free text. Retried safely: its Idempotency-Key makes the
        server replay the first answer's response, and a different answer is refused
        (ConflictError), never applied."""
        body = SubmitAnswerRequest(
            selected_option_key=option, selected_option_keys=options, value=value
        )
        path = run_path(run_id, "questions", segment(question_id), "answer")
        return Call("POST", path, None, body=body, headers=once(), retry_safe=True)

    # ---- a run's internals ---------------------------------------------------------------

    @endpoint
    def get_checkpoint(self, run_id: str) -> Call[RunCheckpoint | None]:
        """`GET /runs/{id}/checkpoint` (None before the first stage)."""
        return Call("GET", run_path(run_id, "checkpoint"), RunCheckpoint | None, retry_safe=True)

    @endpoint
    def get_context(self, run_id: str) -> Call[JsonObject]:
        """`GET /runs/{id}/context`: the run's context values."""
        return Call("GET", run_path(run_id, "context"), JsonObject, retry_safe=True)

    @paged
    def list_stages(self, run_id: str) -> PagedCall[RunStage]:
        """`GET /runs/{id}/stages`: the run's stages in order."""
        return PagedCall(run_path(run_id, "stages"), PaginatedRunStageList)

    @endpoint
    def get_run_usage(self, run_id: str) -> Call[RunUsage]:
        """`GET /runs/{id}/usage`: tokens and cost of one run."""
        return Call("GET", run_path(run_id, "usage"), RunUsage, retry_safe=True)

    @paged
    def list_turns(self, run_id: str, stage_id: str) -> PagedCall[StageTurn]:
        """`GET /runs/{id}/stages/{stageId}/turns`: the LLM turns of a stage, in order."""
        return PagedCall(_stage(run_id, stage_id, "turns"), PaginatedStageTurnList)

    @paged
    def list_artifacts(self, run_id: str, stage_id: str) -> PagedCall[StageArtifact]:
        """`GET /runs/{id}/stages/{stageId}/artifacts`: the files of a stage's folder (names
        relative to it, with ``/``)."""
        return PagedCall(_stage(run_id, stage_id, "artifacts"), PaginatedStageArtifactList)

    @endpoint
    def get_artifact(
        self, run_id: str, stage_id: str, name: str, *, tail: int | None = None
    ) -> Call[bytes]:
        """`GET /runs/{id}/stages/{stageId}/artifacts/{name}`: a file of a stage's folder,
        whole, or its last ``tail`` lines (1 to 10,000). ``name`` as ``list_artifacts`` gives
        it; sent as one segment, so its ``/`` and ``..`` never leave the artifacts route."""
        params: dict[str, str | int] = {} if tail is None else {"tail": tail}
        path = _stage(run_id, stage_id, "artifacts", segment(name))
        return Call("GET", path, bytes, params=params, retry_safe=True)

    @endpoint
    def read_artifact(
        self,
        run_id: str,
        stage_id: str,
        name: str,
        *,
        start: int = 0,
        tail: int | None = None,
    ) -> Call[ArtifactPart]:
        """`GET .../artifacts/{name}` read as a follower reads a growing file: what comes
        after byte ``start`` (a Range request; RangeNotSatisfiableError when nothing does),
        or its last ``tail`` lines, with the file's size then (the Fabro-Artifact-Size
        header) to go on from."""
        params: dict[str, str | int] = {} if tail is None else {"tail": tail}
        headers = {"Range": f"bytes={start}-"} if start and tail is None else {}
        path = _stage(run_id, stage_id, "artifacts", segment(name))
        return _ArtifactCall("GET", path, None, params=params, headers=headers, retry_safe=True)

    @endpoint
    def get_retro(self, run_id: str) -> Call[RetroDetail | None]:
        """`GET /runs/{id}/retro`: the run's retrospective (None until the run is over)."""
        return Call("GET", run_path(run_id, "retro"), RetroDetail | None, retry_safe=True)

    @endpoint
    def get_configuration(self, run_id: str) -> Call[RunConfiguration]:
        """`GET /runs/{id}/configuration`: what the run was started with."""
        return Call("GET", run_path(run_id, "configuration"), RunConfiguration, retry_safe=True)

    @endpoint
    def get_graph(self, run_id: str, *, format: str = "svg") -> Call[bytes]:
        """`GET /runs/{id}/graph`: the run's graph drawn by Graphviz (SVG or PNG bytes)."""
        params: dict[str, str | int] = {"format": format}
        return Call("GET", run_path(run_id, "graph"), bytes, params=params, retry_safe=True)

    # ---- receipts ------------------------------------------------------------------------

    @paged
    def list_receipts(
        self,
        *,
        run: str | None = None,
        kind: str | None = None,
        decision: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> PagedCall[Receipt]:
        """`GET /receipts` (admin): every receipt, newest first, or those of one ``run``, one
        action ``kind``, one ``decision`` (ALLOW, ALERT, APPROVE, BLOCK, DEDUP), started
        from ``since`` and before ``until`` (RFC 3339 times)."""
        filters = {"run": run, "kind": kind, "decision": decision, "since": since, "until": until}
        params: dict[str, str | int] = {k: v for k, v in filters.items() if v is not None}
        return PagedCall("/receipts", PaginatedReceiptList, params)

    @endpoint
    def get_receipt(self, receipt_id: str) -> Call[Receipt]:
        """`GET /receipts/{id}`: one receipt."""
        return Call("GET", f"/receipts/{segment(receipt_id)}", Receipt, retry_safe=True)

    @paged
    def list_run_receipts(self, run_id: str) -> PagedCall[Receipt]:
        """`GET /runs/{id}/receipts`: a run's receipts, in the order its actions began."""
        return PagedCall(run_path(run_id, "receipts"), PaginatedReceiptList)

    @endpoint
    def verify_receipts(self) -> Call[ReceiptChainReport]:
        """`GET /receipts/verify` (admin): whether the receipts' hash chain is intact, and if
        not, its first bad entry and why."""
        return Call("GET", "/receipts/verify", ReceiptChainReport, retry_safe=True)

    # ---- schedules -----------------------------------------------------------------------

    @paged
    def list_schedules(self, workflow: str) -> PagedCall[Schedule]:
        """`GET /workflows/{name}/schedules`: a registry workflow's cron schedules."""
        return PagedCall(_schedules(workflow), PaginatedScheduleList)

    @endpoint
    def create_schedule(
        self,
        workflow: str,
        cron: str,
        *,
        time_zone: str = "UTC",
        vars: dict[str, str] | None = None,
        goal: str | None = None,
        labels: dict[str, str] | None = None,
        title: str | None = None,
        missed: str = "skip",
        idempotency_key: str | None = None,
    ) -> Call[Schedule]:
        """`POST /workflows/{name}/schedules` (operator): runs of ``workflow`` at each fire
        of ``cron`` in ``time_zone``; ``missed`` ("skip" or "run_once") says what becomes of
        fires missed while the server was down. The server checks the cron and the zone."""
        body: JsonObject = {"cron": cron, "time_zone": time_zone, "missed": missed}
        optional = {"vars": vars, "goal": goal, "labels": labels, "title": title}
        body.update({name: value for name, value in optional.items() if value is not None})
        return Call(
            "POST",
            _schedules(workflow),
            Schedule,
            body=body,
            headers=once(idempotency_key),
            retry_safe=True,
        )

    @endpoint
    def get_schedule(self, workflow: str, schedule_id: str) -> Call[Schedule]:
        """`GET /workflows/{name}/schedules/{id}`: a schedule and its next fire."""
        return Call("GET", _schedules(workflow, schedule_id), Schedule, retry_safe=True)

    @endpoint
    def update_schedule(
        self, workflow: str, schedule_id: str, changes: UpdateScheduleRequest
    ) -> Call[Schedule]:
        """`PATCH /workflows/{name}/schedules/{id}` (operator): the fields ``changes`` sets
        (a None goal or title clears it)."""
        path = _schedules(workflow, schedule_id)
        return Call("PATCH", path, Schedule, body=changes, retry_safe=True)

    @endpoint
    def delete_schedule(self, workflow: str, schedule_id: str) -> Call[None]:
        """`DELETE /workflows/{name}/schedules/{id}` (operator): a schedule and its history."""
        return Call("DELETE", _schedules(workflow, schedule_id), None)

    @endpoint
    def pause_schedule(self, workflow: str, schedule_id: str) -> Call[Schedule]:
        """`POST .../schedules/{id}/pause` (operator): no fire until unpaused."""
        path = _schedules(workflow, schedule_id, "pause")
        return Call("POST", path, Schedule, headers=once(), retry_safe=True)

    @endpoint
    def unpause_schedule(self, workflow: str, schedule_id: str) -> Call[Schedule]:
        """`POST .../schedules/{id}/unpause` (operator): fires again from the next after now."""
        path = _schedules(workflow, schedule_id, "unpause")
        return Call("POST", path, Schedule, headers=once(), retry_safe=True)

    @endpoint
    def trigger_schedule(
        self, workflow: str, schedule_id: str, *, idempotency_key: str | None = None
    ) -> Call[ScheduleFire]:
        """`POST .../schedules/{id}/trigger` (operator): the schedule's run, now."""
        path = _schedules(workflow, schedule_id, "trigger")
        return Call("POST", path, ScheduleFire, headers=once(idempotency_key), retry_safe=True)

    @paged
    def list_schedule_fires(self, workflow: str, schedule_id: str) -> PagedCall[ScheduleFire]:
        """`GET .../schedules/{id}/history`: the schedule's fires, newest first."""
        path = _schedules(workflow, schedule_id, "history")
        return PagedCall(path, PaginatedScheduleFireList)

    # ---- webhooks ------------------------------------------------------------------------

    @endpoint
    def create_webhook(
        self,
        url: str,
        event_types: list[WebhookEventType],
        *,
        workflow: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> Call[CreatedWebhook]:
        """`POST /webhooks` (admin): subscribe ``url`` to ``event_types`` (of ``workflow``'s
        runs, of runs carrying every one of ``labels``). The answer holds the signing
        ``secret``, shown this once (docs/webhooks.md)."""
        body = CreateWebhookRequest(
            url=url, event_types=event_types, workflow=workflow, labels=labels
        )
        return Call("POST", "/webhooks", CreatedWebhook, body=body, headers=once(), retry_safe=True)

    @paged
    def list_webhooks(self) -> PagedCall[Webhook]:
        """`GET /webhooks` (admin): the subscriptions, never their secrets."""
        return PagedCall("/webhooks", PaginatedWebhookList)

    @endpoint
    def get_webhook(self, webhook_id: str) -> Call[Webhook]:
        """`GET /webhooks/{id}` (admin): a subscription (``disabled_reason`` says why it is
        off)."""
        return Call("GET", f"/webhooks/{segment(webhook_id)}", Webhook, retry_safe=True)

    @endpoint
    def update_webhook(self, webhook_id: str, changes: UpdateWebhookRequest) -> Call[Webhook]:
        """`PATCH /webhooks/{id}` (admin): the fields ``changes`` sets (``enabled=True``
        turns a disabled subscription back on)."""
        path = f"/webhooks/{segment(webhook_id)}"
        return Call("PATCH", path, Webhook, body=changes, retry_safe=True)

    @endpoint
    def delete_webhook(self, webhook_id: str) -> Call[None]:
        """`DELETE /webhooks/{id}` (admin): the subscription and its delivery log."""
        return Call("DELETE", f"/webhooks/{segment(webhook_id)}", None)

    @endpoint
    def test_webhook(self, webhook_id: str) -> Call[WebhookDelivery]:
        """`POST /webhooks/{id}/test` (admin): queue a ``ping`` delivery now."""
        path = f"/webhooks/{segment(webhook_id)}/test"
        return Call("POST", path, WebhookDelivery, headers=once(), retry_safe=True)

    @paged
    def list_webhook_deliveries(self, webhook_id: str) -> PagedCall[WebhookDelivery]:
        """`GET /webhooks/{id}/deliveries` (admin): the delivery log, newest first."""
        path = f"/webhooks/{segment(webhook_id)}/deliveries"
        return PagedCall(path, PaginatedWebhookDeliveryList)

    @endpoint
    def redeliver_webhook_delivery(
        self, webhook_id: str, delivery_id: str
    ) -> Call[WebhookDelivery]:
        """`POST /webhooks/{id}/deliveries/{delivery_id}/redeliver` (admin): send it again
        now, with the same delivery id."""
        path = f"/webhooks/{segment(webhook_id)}/deliveries/{segment(delivery_id)}/redeliver"
        return Call("POST", path, WebhookDelivery, headers=once(), retry_safe=True)

    # ---- secrets -------------------------------------------------------------------------

    @endpoint
    def set_secret(self, name: str, value: str) -> Call[SecretItem]:
        """`PUT /secrets/{name}` (admin): set a secret (at least 8 characters); its name and
        dates come back, never its value. Retried safely: setting it twice is setting it."""
        body = SetSecretRequest(value=value)
        return Call("PUT", f"/secrets/{segment(name)}", SecretItem, body=body, retry_safe=True)

    @paged
    def list_secrets(self) -> PagedCall[SecretItem]:
        """`GET /secrets` (admin): every secret's name and dates, by name."""
        return PagedCall("/secrets", PaginatedSecretList)

    @endpoint
    def delete_secret(self, name: str) -> Call[None]:
        """`DELETE /secrets/{name}` (admin): forget a secret (NotFoundError if it is not set)."""
        return Call("DELETE", f"/secrets/{segment(name)}", None)

    @endpoint
    def rotate_secrets(self) -> Call[SecretRotation]:
        """`POST /secrets/rotate` (admin): a new key, every value re-sealed under it in one
        transaction; how many, and the new key's id."""
        return Call("POST", "/secrets/rotate", SecretRotation, headers=once(), retry_safe=True)

    # ---- the audit log -------------------------------------------------------------------

    @paged
    def list_audit_logs(
        self,
        *,
        principal: str | None = None,
        action: str | None = None,
        result: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> PagedCall[AuditLogEntry]:
        """`GET /audit-logs` (admin): the audit log, newest first, or the records of one
        ``principal``, one ``action`` (an operationId, or ui.signin.*), one ``result`` (ok,
        refused, failed), from ``since`` and before ``until`` (RFC 3339 times)."""
        filters = {
            "principal": principal,
            "action": action,
            "result": result,
            "since": since,
            "until": until,
        }
        params: dict[str, str | int] = {k: v for k, v in filters.items() if v is not None}
        return PagedCall("/audit-logs", PaginatedAuditLogList, params)

    @endpoint
    def verify_audit_logs(self) -> Call[AuditChainReport]:
        """`GET /audit-logs/verify` (admin): whether the audit log's hash chain is intact, and
        if not, its first bad record and why."""
        return Call("GET", "/audit-logs/verify", AuditChainReport, retry_safe=True)

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

    # ---- models and completions ----------------------------------------------------------

    @paged
    def list_models(self) -> PagedCall[Model]:
        """`GET /models`: the model catalog."""
        return PagedCall("/models", PaginatedModelList)

    @endpoint
    def test_model(self, model_id: str) -> Call[ModelTestResult]:
        """`POST /models/{id}/test`: one short call of the model through its provider (a
        failure is a result with status "error", not an exception). Not retried: each try
        is a provider call."""
        return Call("POST", f"/models/{segment(model_id)}/test", ModelTestResult)

    @endpoint
    def create_completion(
        self,
        messages: str | list[CompletionMessage],
        *,
        model: str | None = None,
        provider: str | None = None,
        system: str | None = None,
        tools: list[CompletionTool] | None = None,
        tool_choice: CompletionToolChoice | None = None,
        schema: JsonObject | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        stop_sequences: list[str] | None = None,
        reasoning_effort: str | None = None,
        provider_options: JsonObject | None = None,
    ) -> Call[CompletionResponse]:
        """`POST /completions`, answered whole (not streamed): one model call. ``messages``:
        the conversation, or a text sent as one user message. Not retried: each try is a
        provider call."""
        if isinstance(messages, str):
            messages = [CompletionMessage(role="user", content=[TextPart(data=messages)])]
        body = CreateCompletionRequest(
            messages=messages,
            model=model,
            provider=provider,
            system=system,
            stream=False,  # the server streams unless told not to
            tools=tools,
            tool_choice=tool_choice,
            schema=schema,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            stop_sequences=stop_sequences,
            reasoning_effort=reasoning_effort,
            provider_options=provider_options,
        )
        return Call("POST", "/completions", CompletionResponse, body=body)

    stream_completion = streamed(
        "stream_completion",
        create_completion,
        JsonObject,
        lambda call: replace(call, body=msgspec.structs.replace(call.body, stream=True)),
        """`POST /completions`, streamed: the same arguments as ``create_completion``; yields
        each stream event (`{"type": "stream_start"}`, text deltas, ..., the finish with its
        usage) as it arrives. Not retried: each try is a provider call.""",
    )

    # ---- chat sessions -------------------------------------------------------------------

    @paged
    def list_sessions(self) -> PagedCall[SessionListItem]:
        """`GET /sessions`: the chat sessions."""
        return PagedCall("/sessions", PaginatedSessionList)

    @endpoint
    def create_session(
        self, content: str, *, model: str | None = None, system: str | None = None
    ) -> Call[CreateSessionResponse]:
        """`POST /sessions`: a chat session opened with the message ``content`` (the answer
        comes as session events). Not retried: a second try would open a second session."""
        body = CreateSessionRequest(content=content, model=model, system=system)
        return Call(
            "POST", "/sessions", CreateSessionResponse, body=body, headers=once(), retry_safe=True
        )

    @endpoint
    def get_session(self, session_id: str) -> Call[SessionDetail]:
        """`GET /sessions/{id}`: a session and its turns."""
        return Call("GET", f"/sessions/{segment(session_id)}", SessionDetail, retry_safe=True)

    @endpoint
    def send_message(self, session_id: str, text: str) -> Call[SendMessageResponse]:
        """`POST /sessions/{id}/messages`: the next user message (accepted; the answer comes
        as session events). Not retried: a second try would send it twice."""
        path = f"/sessions/{segment(session_id)}/messages"
        body = SendMessageRequest(content=text)
        return Call("POST", path, SendMessageResponse, body=body, headers=once(), retry_safe=True)

    # ---- the API itself ------------------------------------------------------------------

    @endpoint
    def get_openapi(self) -> Call[JsonObject]:
        """`GET /openapi.json`: the OpenAPI document of the server's API."""
        return Call("GET", "/openapi.json", JsonObject, retry_safe=True)
