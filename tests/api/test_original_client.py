"""The original Fabro's clients against fabro: a client generated from the original OpenAPI
document reads every response of a full walkthrough (issue 14, "the original's clients work
unchanged").

The original's web app uses a TypeScript client generated from its document; a list of
RunStatusResponse, where the document says RunListItem, broke its runs board. Here
datamodel-code-generator (a dev dependency, used only here) generates pydantic models from the
same document, and every response of the walkthrough must (1) have a status the operation
documents, (2) carry no Content-Type when the document gives it no body, else one of its media
types, and (3) parse with the generated model and validate against the document's schema.

The document is public reference material kept outside the repository: the test runs when it is
at ``../shared/spec/openapi/fabro-api.yaml`` or where ``FABRO_ORIGINAL_OPENAPI`` names it, and
otherwise skips with one line (tests/api/conftest.py prints it). tests/api/test_run_list.py
pins the run list's fields without the document.
"""

from __future__ import annotations

import asyncio
import copy
import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from pydantic import TypeAdapter
from quart.typing import TestClientProtocol as Client
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from fabro.config import Settings
from tests.api.runs_helpers import GATED, SLOW
from tests.api.wire import Wire, exchange

DOCUMENT_ENV = "FABRO_ORIGINAL_OPENAPI"
DEFAULT_DOCUMENT = (
    Path(__file__).resolve().parents[2].parent / "shared" / "spec" / "openapi" / "fabro-api.yaml"
)
MISSING = (
    f"original OpenAPI document not found ({DEFAULT_DOCUMENT}, or set {DOCUMENT_ENV}): "
    "the generated-client walkthrough did not run"
)


def document_path() -> Path | None:
    named = os.environ.get(DOCUMENT_ENV)
    path = Path(named) if named else DEFAULT_DOCUMENT
    return path if path.is_file() else None


DOCUMENT = document_path()
if DOCUMENT is None:
    pytest.skip(MISSING, allow_module_level=True)

# Every operation fabro implements for real (api.md §5.1), except the session event stream,
# which stays open; LATER routes answer 501, which the original never documented.
WALKED = {
    "getRoot",
    "getHealth",
    "getOpenApiSpec",
    "getUser",
    "listRuns",
    "startRun",
    "retrieveRun",
    "cancelRun",
    "pauseRun",
    "unpauseRun",
    "retrieveRunGraph",
    "retrieveRunCheckpoint",
    "retrieveRunContext",
    "streamRunEvents",
    "listRunQuestions",
    "submitRunAnswer",
    "retrieveRetro",
    "listRunStages",
    "listStageTurns",
    "retrieveRunUsage",
    "retrieveRunConfiguration",
    "steerRun",
    "listWorkflows",
    "retrieveWorkflow",
    "listWorkflowRuns",
    "listSessions",
    "createSession",
    "retrieveSession",
    "sendSessionMessage",
    "getAggregateUsage",
    "listModels",
    "testModel",
    "createCompletion",
    "retrieveServerConfiguration",
}

WORKFLOW_DOT = """digraph Hello {
  graph [goal="Say hello"]
  start [shape=Mdiamond]
  greet [label="Greet", prompt="Say hello"]
  exit [shape=Msquare]
  start -> greet -> exit
}
"""


def with_nulls(schema: Any) -> Any:
    """The document is OpenAPI 3.1 but marks optional values `nullable: true` the 3.0 way (its
    generators read it so, and its server sends null there): that spelled in JSON Schema."""
    if isinstance(schema, list):
        return [with_nulls(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: with_nulls(value) for key, value in schema.items() if key != "nullable"}
    if schema.get("nullable") is True:
        if isinstance(converted.get("type"), str):
            converted["type"] = [converted["type"], "null"]
        else:
            converted = {"anyOf": [converted, {"type": "null"}]}
    return converted


def generate_models(document: Path, folder: Path) -> ModuleType:
    """The generated client's models: datamodel-code-generator run on the document."""
    output = folder / "original_models.py"
    generated = subprocess.run(
        [
            sys.executable,
            "-m",
            "datamodel_code_generator",
            "--input",
            str(document),
            "--input-file-type",
            "openapi",
            "--output",
            str(output),
            "--output-model-type",
            "pydantic_v2.BaseModel",
            "--target-python-version",
            "3.11",
            "--formatters",
            "builtin",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert generated.returncode == 0, f"datamodel-codegen failed:\n{generated.stderr}"
    spec = importlib.util.spec_from_file_location("original_models", output)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # pydantic resolves the models' postponed annotations through sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class OriginalClient:
    """Calls fabro as a client of the original document does, checking every answer."""

    def __init__(
        self,
        document: dict[str, Any],
        models: ModuleType,
        client: Client,
        headers: dict[str, str],
    ) -> None:
        self.models = models
        self.client = client
        self.headers = headers
        self.seen: set[str] = set()  # operationIds called
        self.operations = {
            operation["operationId"]: (method.upper(), path, operation)
            for path, operations in document["paths"].items()
            for method, operation in operations.items()
        }
        resource = DRAFT202012.create_resource(with_nulls(document))
        self.registry: Registry[Any] = Registry().with_resource("urn:original", resource)

    async def call(self, operation_id: str, path: str, body: Any = None) -> Any:
        method, template, operation = self.operations[operation_id]
        assert _matches(template, path), (operation_id, template, path)
        wire = await exchange(self.client, method, path, self.headers, body)
        self.check(operation_id, operation, wire)
        self.seen.add(operation_id)
        return wire.json() if wire.body and _media(wire) == "application/json" else wire.body

    def check(self, operation_id: str, operation: dict[str, Any], wire: Wire) -> None:
        where = f"{operation_id} answered {wire.status}"
        documented = operation["responses"].get(str(wire.status))
        assert documented is not None, f"{where}, which the document does not list: {wire.body!r}"
        content = documented.get("content")
        if content is None:
            assert wire.body == b"", where
            assert "Content-Type" not in wire.headers, f"{where} with no body but a Content-Type"
            return
        media = _media(wire)
        assert media in content, f"{where} as {media}; the document says {sorted(content)}"
        if media != "application/json":
            return
        schema = content[media]["schema"]
        errors = sorted(
            f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in self.validator(schema).iter_errors(wire.json())
        )
        assert not errors, f"{where}: {errors}"
        self.adapter(schema).validate_json(wire.body, strict=True)

    def validator(self, schema: dict[str, Any]) -> Draft202012Validator:
        rooted = copy.deepcopy(with_nulls(schema))
        _root_refs(rooted)
        return Draft202012Validator(rooted, registry=self.registry)

    def adapter(self, schema: dict[str, Any]) -> TypeAdapter[Any]:
        """The generated model a response schema names (a nullable one for `X | null`)."""
        if "$ref" in schema:
            return TypeAdapter(self._model(schema["$ref"]))
        variants = schema.get("oneOf", [])
        refs = [variant["$ref"] for variant in variants if "$ref" in variant]
        if len(refs) == 1 and {"type": "null"} in variants:
            return TypeAdapter(self._model(refs[0]) | None)
        assert schema.get("type") == "object", schema
        return TypeAdapter(dict[str, Any])

    def _model(self, ref: str) -> Any:
        return getattr(self.models, ref.rsplit("/", 1)[1])


def _media(wire: Wire) -> str:
    return wire.headers.get("Content-Type", "").split(";")[0].strip()


def _matches(template: str, path: str) -> bool:
    parts, wanted = template.split("/"), path.split("?")[0].split("/")
    return len(parts) == len(wanted) and all(
        part == got or (part.startswith("{") and got)
        for part, got in zip(parts, wanted, strict=True)
    )


def _root_refs(schema: Any) -> None:
    """Point the response schema's local $refs at the document's resource."""
    if isinstance(schema, dict):
        if isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#"):
            schema["$ref"] = "urn:original" + schema["$ref"]
        for value in schema.values():
            _root_refs(value)
    elif isinstance(schema, list):
        for value in schema:
            _root_refs(value)


@pytest.fixture(scope="module")
def original(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, Any], ModuleType]]:
    assert DOCUMENT is not None
    with DOCUMENT.open(encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    models = generate_models(DOCUMENT, tmp_path_factory.mktemp("original"))
    yield document, models
    sys.modules.pop(models.__name__, None)


async def until(what: str, probe: Any, limit_s: float = 20) -> Any:
    deadline = asyncio.get_running_loop().time() + limit_s
    while not (found := await probe()):
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)
    return found


async def test_a_client_generated_from_the_original_document_reads_every_answer(
    original: tuple[dict[str, Any], ModuleType],
    settings: Settings,
    client: Client,
    auth_headers: dict[str, str],
) -> None:
    document, models = original
    api = OriginalClient(document, models, client, auth_headers)
    folder = settings.workflows_dir / "hello"
    folder.mkdir(parents=True)
    (folder / "workflow.dot").write_text(WORKFLOW_DOT, encoding="utf-8")

    for operation_id, path in [
        ("getRoot", "/"),
        ("getHealth", "/health"),
        ("getOpenApiSpec", "/openapi.json"),
        ("getUser", "/user"),
        ("listModels", "/models"),
        ("testModel", "/models/claude-haiku-4-5/test"),
        ("listWorkflows", "/workflows"),
        ("retrieveWorkflow", "/workflows/hello"),
        ("getAggregateUsage", "/usage"),
        ("retrieveServerConfiguration", "/settings"),
    ]:
        await api.call(operation_id, path)
    hello = {"messages": [{"role": "user", "content": [{"kind": "text", "data": "Hi"}]}]}
    await api.call("createCompletion", "/completions", {**hello, "stream": False})

    # A run waits at its gate: the board shows it pending with its question.
    gated = await api.call(
        "startRun", "/runs", {"dot_source": GATED, "labels": {"repository": "api-server"}}
    )
    run = f"/runs/{gated['id']}"

    async def question() -> Any:
        return (await api.call("listRunQuestions", f"{run}/questions"))["data"]

    (asked,) = await until("the gate's question", question)
    board = await api.call("listRuns", "/runs")
    (item,) = [item for item in board["data"] if item["id"] == gated["id"]]
    assert (item["status"], item["question"]) == ("pending", {"text": asked["text"]})
    await api.call("retrieveRun", run)
    await api.call("steerRun", f"{run}/steer", {"guidance": "Keep it short."})
    await api.call("retrieveRunCheckpoint", f"{run}/checkpoint")
    await api.call("retrieveRunContext", f"{run}/context")
    await api.call(
        "submitRunAnswer", f"{run}/questions/{asked['id']}/answer", {"selected_option_key": "A"}
    )

    async def finished() -> bool:
        return (await api.call("retrieveRun", run))["status"] == "completed"

    await until("the run to complete", finished)
    await api.call("streamRunEvents", f"{run}/events")
    stages = await api.call("listRunStages", f"{run}/stages")
    await api.call("listStageTurns", f"{run}/stages/{stages['data'][-1]['id']}/turns")
    for operation_id, suffix in [
        ("retrieveRunCheckpoint", "/checkpoint"),
        ("retrieveRunContext", "/context"),
        ("retrieveRunUsage", "/usage"),
        ("retrieveRunConfiguration", "/configuration"),
        ("retrieveRetro", "/retro"),
        ("retrieveRunGraph", "/graph"),  # 200 SVG, or 502 without Graphviz: both documented
    ]:
        await api.call(operation_id, run + suffix)

    # A registry run, and the runs of its workflow.
    await api.call("startRun", "/runs", {"workflow": "hello"})
    runs = await api.call("listWorkflowRuns", "/workflows/hello/runs")
    assert [item["workflow"] for item in runs["data"]] == [{"slug": "hello"}]

    # Pause, unpause and cancel a run in the middle of a long command.
    slow = await api.call("startRun", "/runs", {"dot_source": SLOW})
    slow_run = f"/runs/{slow['id']}"

    async def running() -> bool:
        return (await api.call("retrieveRun", slow_run))["status"] == "running"

    await until("the slow run to start", running)
    await api.call("pauseRun", f"{slow_run}/pause")
    await api.call("unpauseRun", f"{slow_run}/unpause")
    await api.call("cancelRun", f"{slow_run}/cancel")
    await api.call("listRuns", "/runs?page[limit]=100")

    session = await api.call("createSession", "/sessions", {"content": "Hi"})
    await api.call("sendSessionMessage", f"/sessions/{session['id']}/messages", {"content": "Bye"})
    await api.call("retrieveSession", f"/sessions/{session['id']}")
    await api.call("listSessions", "/sessions")

    assert api.seen == WALKED
