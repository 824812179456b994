"""The new-run page: start a run of a registry workflow or of pasted or uploaded DOT.

The form starts runs through `submit_run`, the code behind `POST /runs` (same limits,
validation and idempotency: the form carries a key made when it was rendered, so a double
submit makes one run). `POST /ui/validate` gives the page's script the diagnostics of the
DOT being typed; with JavaScript off, a refused submission shows the same diagnostics.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field, replace
from typing import Any, Final

import msgspec
from quart import Response, jsonify, redirect, render_template, request, url_for
from quart.datastructures import FileStorage
from quart.typing import ResponseReturnValue

from fabro.api.bodies.runs import StartRunRequest
from fabro.api.context import services
from fabro.api.errors import envelope_response
from fabro.api.request import as_body, json_body
from fabro.api.runs import idempotency_key, submit_run
from fabro.config import MAX_BODY_BYTES, LimitsSettings
from fabro.errors import BadRequest, Conflict, FabroError, UnprocessableEntity
from fabro.ui.auth import signed_in
from fabro.ui.blueprint import ui
from fabro.ui.diagnose import SourceLine, diagnose, source_view
from fabro.workflow.registry import list_workflows

SOURCES: Final = ("registry", "dot", "file")
KEY_FIELD: Final = "idempotency_key"


@dataclass
class NewRunForm:
    """What the form holds, as typed (kept when the form is shown again)."""

    source: str = "dot"
    workflow: str = ""
    dot_source: str = ""
    goal: str = ""
    title: str = ""
    variables: str = ""
    labels: str = ""
    key: str = field(default_factory=lambda: "ui-" + secrets.token_urlsafe(18))


def parse_pairs(text: str, what: str) -> dict[str, str]:
    """`KEY=VALUE` lines as a dict (blank lines skipped; spaces around key and value
    dropped); a BadRequest naming the field and line otherwise."""
    pairs: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise BadRequest(f"{what}, line {number}: expected KEY=VALUE.")
        pairs[key.strip()] = value.strip()
    return pairs


def start_request(form: NewRunForm) -> dict[str, Any]:
    """The `POST /runs` body the form stands for (its Idempotency-Key is checked against it)."""
    raw: dict[str, Any] = {}
    if form.source == "registry":
        if not form.workflow:
            raise BadRequest("Choose a workflow of the registry.")
        raw["workflow"] = form.workflow
    else:
        if not form.dot_source.strip():
            raise BadRequest("Paste a workflow's DOT source or upload a .dot file.")
        raw["dot_source"] = form.dot_source
    if form.goal.strip():
        raw["goal"] = form.goal.strip()
    if form.title.strip():
        raw["title"] = form.title.strip()
    if variables := parse_pairs(form.variables, "Variables"):
        raw["vars"] = variables
    if labels := parse_pairs(form.labels, "Labels"):
        raw["labels"] = labels
    return raw


async def _read_upload(upload: FileStorage | None) -> str | None:
    """The text of an uploaded workflow file (None when no file was chosen)."""
    if upload is None or not upload.filename:
        return None
    # Spooled to disk past a size: read off the event loop.
    data = bytes(await asyncio.to_thread(upload.read))
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise BadRequest("The uploaded file is not UTF-8 text.") from None


async def _read_form() -> tuple[NewRunForm, str | None]:
    """The submitted form, and why its upload cannot be used (None when it can)."""
    form = await request.form
    files = await request.files
    source = str(form.get("source", "dot"))
    read = NewRunForm(
        source=source if source in SOURCES else "dot",
        workflow=str(form.get("workflow", "")),
        dot_source=str(form.get("dot_source", "")),
        goal=str(form.get("goal", "")),
        title=str(form.get("title", "")),
        variables=str(form.get("variables", "")),
        labels=str(form.get("labels", "")),
        key=str(form.get(KEY_FIELD, "")),
    )
    if read.source != "file":
        return read, None
    try:
        uploaded = await _read_upload(files.get("dot_file"))
    except BadRequest as refused:
        return read, refused.detail
    if uploaded is None:
        return read, "Choose a .dot file to upload."
    # Shown again as pasted DOT, so that a refused upload can be corrected in place.
    return replace(read, source="dot", dot_source=uploaded), None


async def _page(
    form: NewRunForm,
    *,
    status: int = 200,
    error: str | None = None,
    diagnostics: list[dict[str, Any]] | None = None,
    lines: list[SourceLine | None] | None = None,
) -> Response:
    workflows = await asyncio.to_thread(list_workflows, services().settings.workflows_dir)
    page = await render_template(
        "new_run.html",
        form=form,
        workflows=[(found.slug, found.display_name(None)) for found in workflows],
        error=error,
        diagnostics=diagnostics or [],
        lines=lines or [],
        max_body_mib=MAX_BODY_BYTES // (1024 * 1024),
        max_source_bytes=services().settings.limits.max_source_bytes,
    )
    return Response(page, status, mimetype="text/html")


@ui.route("/runs/new", methods=["GET"], endpoint="new_run")
async def new_run_page() -> Response:
    chosen = request.args.get("workflow", "")
    form = NewRunForm(source="registry" if chosen else "dot", workflow=chosen)
    return await _page(form)


@ui.route("/runs/new", methods=["POST"], endpoint="start_run")
async def start_run_form() -> ResponseReturnValue:
    form, problem = await _read_form()
    if problem is not None:
        return await _page(_fresh(form), status=422, error=problem)
    try:
        raw = start_request(form)
        body = as_body(raw, StartRunRequest)
        key = idempotency_key(form.key or None, "idempotency key of the form")
        run, _ = await submit_run(body, raw, signed_in().login, key)
    except Conflict as refused:  # the key was used for another request
        return await _page(_fresh(form), status=409, error=refused.detail)
    except (BadRequest, UnprocessableEntity) as refused:  # 422: the policy blocks a stage
        return await _refused(form, refused)
    return redirect(url_for("ui.run_page", run_id=run.id), 303)


def _fresh(form: NewRunForm) -> NewRunForm:
    """``form`` with a new idempotency key: each rendering of the form is a new request."""
    return replace(form, key=NewRunForm().key)


async def _refused(form: NewRunForm, refused: BadRequest | UnprocessableEntity) -> Response:
    """The form again with the user's input, the reason and the DOT's diagnostics (422)."""
    diagnostics: list[dict[str, Any]] = []
    lines: list[SourceLine | None] = []
    if form.source == "dot" and form.dot_source.strip():
        limits = services().settings.limits
        checked = await asyncio.to_thread(_checked, form.dot_source, form.variables, limits)
        diagnostics, lines = checked
    return await _page(
        _fresh(form), status=422, error=refused.detail, diagnostics=diagnostics, lines=lines
    )


def _checked(
    source: str, variables: str, limits: LimitsSettings
) -> tuple[list[dict[str, Any]], list[SourceLine | None]]:
    """The diagnostics of ``source`` with the form's ``variables`` (KEY=VALUE lines), and
    the numbered view showing them. Parsing, validating and splitting a large text take a
    while: this runs in a worker thread."""
    problems: list[dict[str, Any]] = []
    try:
        values = parse_pairs(variables, "Variables")
    except BadRequest as error:
        values = {}
        problems.append({"rule": "form", "severity": "error", "message": error.detail})
    diagnostics = problems + diagnose(source, values, limits)
    return diagnostics, source_view(source, diagnostics)


class ValidateRequest(msgspec.Struct):
    """`POST /ui/validate`: the DOT being typed, and the form's variables (KEY=VALUE lines)."""

    dot_source: str
    variables: str = ""


@ui.route("/validate", methods=["POST"], endpoint="validate")
async def validate_route() -> Response:
    """The diagnostics of ``dot_source`` (rule, severity, message, line, col) and the
    numbered lines to show them at. Errors come in the API's envelope, not as a page."""
    try:
        body = as_body(await json_body(), ValidateRequest)
    except FabroError as error:
        return envelope_response(error.status, error.title, error.detail)
    limits = services().settings.limits
    checked = await asyncio.to_thread(_checked, body.dot_source, body.variables, limits)
    diagnostics, lines = checked
    return jsonify(
        {
            "valid": not any(d["severity"] == "error" for d in diagnostics),
            "diagnostics": diagnostics,
            "lines": [None if line is None else line.to_json() for line in lines],
        }
    )
