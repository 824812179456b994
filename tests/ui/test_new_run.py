"""The new-run page: starting runs as `POST /runs` does, and diagnostics at their lines."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from quart.datastructures import FileStorage
from quart.typing import TestClientProtocol as Client

from fabro.config import MAX_BODY_BYTES, Settings
from fabro.governance.policy import Policy
from fabro.governance.rules import compile_rule
from fabro.services import Services
from tests.conftest import USER

EMPTY = "digraph Empty {\n  start [shape=Mdiamond]\n  exit [shape=Msquare]\n  start -> exit\n}\n"
# Line 3 is cut short: a parse error there.
SYNTAX_ERROR = "digraph Bad {\n  start [shape=Mdiamond]\n  start -> [label=x]\n}\n"
# Parses, but has no exit node: a validation error.
NO_EXIT = 'digraph NoExit {\n  start [shape=Mdiamond]\n  work [label="W"]\n  start -> work\n}\n'
RUN_PAGE = re.compile(r"^/ui/runs/([0-9A-Z]{26})$")


def form_key(page: str) -> str:
    found = re.search(r'name="idempotency_key" value="([^"]+)"', page)
    assert found, "the form carries an idempotency key"
    return found.group(1)


async def new_form(ui_client: Client, query: str = "") -> str:
    response = await ui_client.get(f"/ui/runs/new{query}")
    assert response.status_code == 200
    return await response.get_data(as_text=True)


async def submit(ui_client: Client, csrf: str, **fields: str) -> Any:
    form = {"csrf_token": csrf, **fields}
    if "idempotency_key" not in form:
        form["idempotency_key"] = form_key(await new_form(ui_client))
    return await ui_client.post("/ui/runs/new", form=form)


def started(response: Any) -> str:
    assert response.status_code == 303, response.status_code
    found = RUN_PAGE.match(response.headers["Location"])
    assert found, response.headers["Location"]
    return found.group(1)


async def run_json(client: Client, headers: dict[str, str], run_id: str) -> dict[str, Any]:
    response = await client.get(f"/runs/{run_id}", headers=headers)
    assert response.status_code == 200
    body: dict[str, Any] = await response.get_json()
    return body


async def run_count(client: Client, headers: dict[str, str]) -> int:
    body = await (await client.get("/runs?page[limit]=100", headers=headers)).get_json()
    return len(body["data"])


@pytest.fixture
def registry(settings: Settings) -> None:
    folder = settings.workflows_dir / "hello"
    folder.mkdir(parents=True)
    (folder / "workflow.dot").write_text(EMPTY, encoding="utf-8")
    (folder / "workflow.toml").write_text('name = "Say <hello>"\n', encoding="utf-8")


# ---- the form ------------------------------------------------------------------------------


@pytest.mark.usefixtures("registry")
async def test_the_form_lists_the_registry_and_preselects_a_workflow(ui_client: Client) -> None:
    page = await new_form(ui_client, "?workflow=hello")
    assert '<option value="hello" selected>Say &lt;hello&gt; (hello)</option>' in page
    assert 'name="source" value="registry" checked' in page
    assert 'name="csrf_token" value="' in page and 'enctype="multipart/form-data"' in page
    assert "new_run.js" in page and "style=" not in page
    assert 'id="diagnostics" class="diagnostics" aria-live="polite"' in page
    # Each rendering is a new request: a new key.
    assert form_key(page) != form_key(await new_form(ui_client))


@pytest.mark.usefixtures("registry")
async def test_a_registry_workflow_starts_and_the_browser_goes_to_its_page(
    ui_client: Client, ui_csrf: str, client: Client, auth_headers: dict[str, str]
) -> None:
    response = await submit(
        ui_client, ui_csrf, source="registry", workflow="hello", labels="team=web\n"
    )
    run = await run_json(client, auth_headers, started(response))
    assert run["workflow"]["slug"] == "hello" and run["labels"] == {"team": "web"}


async def test_pasted_dot_starts_with_its_goal_title_variables_and_labels(
    ui_client: Client, ui_csrf: str, client: Client, auth_headers: dict[str, str]
) -> None:
    response = await submit(
        ui_client,
        ui_csrf,
        source="dot",
        dot_source=EMPTY,
        goal="Ship <it>",
        title="From the form",
        variables="repo = api\n\nregion=eu=west\n",
        labels="team=web\r\nenv=prod",
    )
    run_id = started(response)
    run = await run_json(client, auth_headers, run_id)
    assert run["goal"] == "Ship <it>" and run["title"] == "From the form"
    assert run["labels"] == {"team": "web", "env": "prod"}
    config = await (
        await client.get(f"/runs/{run_id}/configuration", headers=auth_headers)
    ).get_json()
    assert config["vars"] == {"repo": "api", "region": "eu=west"}


async def test_an_uploaded_file_starts_a_run(
    ui_client: Client, ui_csrf: str, client: Client, auth_headers: dict[str, str]
) -> None:
    key = form_key(await new_form(ui_client))
    upload = FileStorage(io.BytesIO(EMPTY.encode()), filename="flow.dot", content_type="text/plain")
    response = await ui_client.post(
        "/ui/runs/new",
        form={"csrf_token": ui_csrf, "idempotency_key": key, "source": "file"},
        files={"dot_file": upload},
    )
    run = await run_json(client, auth_headers, started(response))
    assert run["status"] in {"queued", "starting", "running", "completed"}


async def test_a_double_submit_makes_one_run(
    ui_client: Client, ui_csrf: str, client: Client, auth_headers: dict[str, str]
) -> None:
    key = form_key(await new_form(ui_client))
    fields = {"source": "dot", "dot_source": EMPTY, "idempotency_key": key}
    first = started(await submit(ui_client, ui_csrf, **fields))
    second = started(await submit(ui_client, ui_csrf, **fields))
    assert first == second and await run_count(client, auth_headers) == 1
    # The same key for another request: refused, and a fresh form to try again.
    changed = await submit(ui_client, ui_csrf, **{**fields, "goal": "another"})
    assert changed.status_code == 409
    page = await changed.get_data(as_text=True)
    assert "Idempotency-Key was already used" in page and form_key(page) != key
    assert await run_count(client, auth_headers) == 1


# ---- refused submissions: the form again, input kept -------------------------------------------


async def test_a_syntax_error_shows_at_its_line_with_the_input_kept(
    ui_client: Client, ui_csrf: str, client: Client, auth_headers: dict[str, str]
) -> None:
    response = await submit(
        ui_client, ui_csrf, source="dot", dot_source=SYNTAX_ERROR, goal="Keep <me>", variables="a=1"
    )
    assert response.status_code == 422
    page = await response.get_data(as_text=True)
    assert "Parse error: 3:" in page  # the API's detail, as the notice
    assert re.search(r'<li class="diagnostic diagnostic-error" data-line="3">', page)
    assert 'href="#src-line-3" data-line="3">line 3, column' in page
    assert re.search(r'<li id="src-line-3" class="source-line line-error" value="3">', page)
    assert "start -&gt; [label=x]" in page  # the numbered view, as text
    assert 'value="Keep &lt;me&gt;"' in page and ">a=1</textarea>" in page
    assert "digraph Bad {" in page  # the source stays in the textarea
    assert await run_count(client, auth_headers) == 0


async def test_an_invalid_workflow_lists_its_diagnostics(ui_client: Client, ui_csrf: str) -> None:
    response = await submit(ui_client, ui_csrf, source="dot", dot_source=NO_EXIT)
    assert response.status_code == 422
    page = await response.get_data(as_text=True)
    assert "Validation error:" in page and "diagnostic-error" in page
    assert 'name="source" value="dot" checked' in page


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({"variables": "ok=1\nnot a pair"}, "Variables, line 2: expected KEY=VALUE."),
        ({"labels": "bad key!=x"}, "labels"),
        ({"title": "t" * 201}, "title"),
        ({"dot_source": "  "}, "Paste a workflow&#39;s DOT source"),
        ({"source": "registry"}, "Choose a workflow of the registry."),
        ({"source": "registry", "workflow": "nope"}, "Workflow not found: nope."),
        ({"source": "file"}, "Choose a .dot file to upload."),
        ({"idempotency_key": "é"}, "Invalid idempotency key of the form."),
    ],
)
async def test_bad_fields_are_named(
    ui_client: Client, ui_csrf: str, fields: dict[str, str], detail: str
) -> None:
    response = await submit(ui_client, ui_csrf, **{"source": "dot", "dot_source": EMPTY, **fields})
    assert response.status_code == 422
    assert detail in await response.get_data(as_text=True)


async def test_an_upload_that_is_not_text_is_refused(ui_client: Client, ui_csrf: str) -> None:
    upload = FileStorage(io.BytesIO(b"\xff\xfe\x00bad"), filename="flow.dot")
    response = await ui_client.post(
        "/ui/runs/new",
        form={"csrf_token": ui_csrf, "idempotency_key": "k", "source": "file"},
        files={"dot_file": upload},
    )
    assert response.status_code == 422
    assert "The uploaded file is not UTF-8 text." in await response.get_data(as_text=True)


async def test_the_form_needs_its_csrf_token(
    ui_client: Client, client: Client, auth_headers: dict[str, str]
) -> None:
    for token in (None, "wrong"):
        form = {"source": "dot", "dot_source": EMPTY, "idempotency_key": "k"}
        if token is not None:
            form["csrf_token"] = token
        response = await ui_client.post("/ui/runs/new", form=form)
        assert response.status_code == 403
        assert "CSRF token is missing or wrong" in await response.get_data(as_text=True)
    assert await run_count(client, auth_headers) == 0


async def test_a_run_started_from_the_form_is_the_signed_in_users(
    ui_client: Client, ui_csrf: str, services: Any
) -> None:
    run_id = started(await submit(ui_client, ui_csrf, source="dot", dot_source=EMPTY))
    run = await services.store.get_run(run_id)
    assert run is not None and run.created_by == USER


# ---- POST /ui/validate ---------------------------------------------------------------------


async def validate(ui_client: Client, csrf: str | None, body: Any) -> Any:
    headers = {"X-CSRF-Token": csrf} if csrf is not None else {}
    return await ui_client.post("/ui/validate", json=body, headers=headers)


async def test_validate_places_a_syntax_error_at_its_line(ui_client: Client, ui_csrf: str) -> None:
    response = await validate(ui_client, ui_csrf, {"dot_source": SYNTAX_ERROR})
    assert response.status_code == 200
    body = await response.get_json()
    assert body["valid"] is False
    [diagnostic] = body["diagnostics"]
    assert diagnostic["rule"] == "parse_error" and diagnostic["line"] == 3
    assert diagnostic["col"] > 0 and diagnostic["severity"] == "error"
    assert body["lines"][2] == {"number": 3, "text": "  start -> [label=x]", "severity": "error"}
    assert body["lines"][0]["severity"] is None and len(body["lines"]) == 4


async def test_validate_places_node_and_edge_diagnostics(ui_client: Client, ui_csrf: str) -> None:
    body = await (await validate(ui_client, ui_csrf, {"dot_source": NO_EXIT})).get_json()
    assert body["valid"] is False
    assert all(isinstance(d.get("line"), int) for d in body["diagnostics"] if "node_id" in d)
    clean = await (await validate(ui_client, ui_csrf, {"dot_source": EMPTY})).get_json()
    assert clean["valid"] is True


async def test_validate_uses_the_variables(ui_client: Client, ui_csrf: str) -> None:
    bad = await validate(ui_client, ui_csrf, {"dot_source": EMPTY, "variables": "no pair"})
    body = await bad.get_json()
    assert body["diagnostics"][0] == {
        "rule": "form",
        "severity": "error",
        "message": "Variables, line 1: expected KEY=VALUE.",
    }


async def test_validate_refuses_a_body_over_the_limit(ui_client: Client, ui_csrf: str) -> None:
    huge = json.dumps({"dot_source": "x" * MAX_BODY_BYTES})
    response = await ui_client.post(
        "/ui/validate",
        data=huge,
        headers={"X-CSRF-Token": ui_csrf, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert (await response.get_json())["errors"][0]["status"] == "413"


async def test_validate_names_the_source_limit(
    ui_client: Client, ui_csrf: str, settings: Settings
) -> None:
    source = "digraph A {}" + " " * settings.limits.max_source_bytes
    body = await (await validate(ui_client, ui_csrf, {"dot_source": source})).get_json()
    assert "limits.max_source_bytes" in body["diagnostics"][0]["message"]


async def test_validate_needs_the_csrf_header(ui_client: Client, ui_csrf: str) -> None:
    for token in (None, "wrong", ui_csrf + "x"):
        response = await validate(ui_client, token, {"dot_source": EMPTY})
        assert response.status_code == 403, token


async def test_validate_answers_bad_bodies_in_the_envelope(ui_client: Client, ui_csrf: str) -> None:
    wrong_type = await ui_client.post(
        "/ui/validate", data="dot", headers={"X-CSRF-Token": ui_csrf, "Content-Type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    missing = await validate(ui_client, ui_csrf, {"source": EMPTY})
    assert missing.status_code == 400
    error = (await missing.get_json())["errors"][0]
    assert "dot_source" in error["detail"]


async def test_an_upload_over_the_body_limit_is_refused(
    ui_client: Client, ui_csrf: str, client: Client, auth_headers: dict[str, str]
) -> None:
    upload = FileStorage(io.BytesIO(b" " * MAX_BODY_BYTES), filename="big.dot")
    response = await ui_client.post(
        "/ui/runs/new",
        form={"csrf_token": ui_csrf, "idempotency_key": "k", "source": "file"},
        files={"dot_file": upload},
    )
    assert response.status_code == 413
    assert await run_count(client, auth_headers) == 0


async def test_an_upload_over_the_source_limit_names_it(
    ui_client: Client, ui_csrf: str, settings: Settings
) -> None:
    text = EMPTY + " " * settings.limits.max_source_bytes
    upload = FileStorage(io.BytesIO(text.encode()), filename="big.dot")
    response = await ui_client.post(
        "/ui/runs/new",
        form={"csrf_token": ui_csrf, "idempotency_key": "k", "source": "file"},
        files={"dot_file": upload},
    )
    assert response.status_code == 422
    assert "limits.max_source_bytes" in await response.get_data(as_text=True)


async def test_a_workflow_the_policy_blocks_is_refused_with_the_reason(
    ui_client: Client,
    ui_csrf: str,
    services: Services,
    client: Client,
    auth_headers: dict[str, str],
) -> None:
    services.policy.current = Policy(
        [compile_rule({"name": "no-push", "decision": "block", "program": "git"})]
    )
    stage = 'push [shape=parallelogram, script="git push"]\n  start -> push -> exit'
    blocked = EMPTY.replace("start -> exit", stage)
    response = await submit(ui_client, ui_csrf, source="dot", dot_source=blocked)
    assert response.status_code == 422
    page = await response.get_data(as_text=True)
    assert "policy_blocked: stage &#39;push&#39; runs &#39;git push&#39;, blocked by rule" in page
    assert "digraph Empty {" in page and form_key(page)  # the form again, the input kept
    assert await run_count(client, auth_headers) == 0
