"""Names in a request never become paths outside what they name.

The attacker aims at the server's private key (``<data_dir>/keys/jwt_ed25519.pem``) through
every route whose path or body names something that lives on disk: registry workflows, runs,
stages, sessions. Each attempt must be refused in the envelope and leak nothing.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from tests.e2e.runs_support import start_run, wait_for_status
from tests.security.conftest import Attacked

ESCAPES = ("..", "../keys", "..%2Fkeys", "%2e%2e%2fkeys", "....//keys", "%2Fetc%2Fpasswd", "~")
PATHS = (
    "/workflows/{x}",
    "/workflows/{x}/runs",
    "/runs/{x}",
    "/runs/{x}/graph",
    "/runs/{x}/checkpoint",
    "/runs/{x}/stages",
    "/runs/{x}/stages/{x}/turns",
    "/runs/{x}/stages/{x}/artifacts",
    "/runs/{x}/stages/{x}/artifacts/{x}",
    "/runs/{x}/questions",
    "/sessions/{x}",
)


@dataclass(frozen=True)
class Answer:
    status: int
    text: str


def send(attacked: Attacked, method: str, path: str, body: object = None) -> Answer:
    """The request exactly as written: http.client sends `..` as is (httpx would fold it)."""
    url = urlsplit(attacked.server.url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    headers = {"Authorization": f"Bearer {attacked.token}", "Content-Type": "application/json"}
    try:
        payload = None if body is None else json.dumps(body)
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return Answer(response.status, response.read().decode("utf-8", "replace"))
    finally:
        connection.close()


def assert_refused(answer: Answer) -> None:
    assert 400 <= answer.status < 500, (answer.status, answer.text[:200])
    assert "PRIVATE KEY" not in answer.text
    assert "root:" not in answer.text
    error = json.loads(answer.text)["errors"][0]
    assert error["status"] == str(answer.status)


@pytest.mark.parametrize("path", PATHS)
def test_escaping_names_in_the_path_are_refused(attacked: Attacked, path: str) -> None:
    for escape in ESCAPES:
        assert_refused(send(attacked, "GET", path.replace("{x}", escape)))


def test_an_artifact_name_never_leaves_its_stage_folder(attacked: Attacked) -> None:
    """From `<data_dir>/runs/<id>/nodes/<stage>/` the key is four folders up."""
    dot = 'digraph A { start [shape=Mdiamond]; s [shape=parallelogram, script="echo hi"]; '
    dot += "exit [shape=Msquare]; start -> s -> exit }"
    with attacked.client() as http:
        run = start_run(http, dot)
        wait_for_status(http, run, {"completed"})
        assert http.get(f"/runs/{run}/stages/s/artifacts/stdout.log").text == "hi\n"
    key = "keys/jwt_ed25519.pem"
    for name in (
        f"../../../../{key}",
        f"..%2F..%2F..%2F..%2F{key}",
        f"%2e%2e/%2e%2e/%2e%2e/%2e%2e/{key}",
        f"stdout.log/../../../../../{key}",
        "..",
        "%2Fetc%2Fpasswd",
    ):
        for query in ("", "?tail=5"):
            assert_refused(send(attacked, "GET", f"/runs/{run}/stages/s/artifacts/{name}{query}"))


def test_a_registry_name_never_leaves_the_registry(attacked: Attacked) -> None:
    for name in ("../keys", "..", "/etc", "keys/../..", "~root", "a/../../keys"):
        assert_refused(send(attacked, "POST", "/runs", {"workflow": name}))


def test_a_submitted_graph_cannot_name_a_node_after_a_path() -> None:
    """Stage folders are named after node ids, which the grammar keeps to identifiers."""
    from fabro.workflow.errors import DotParseError
    from fabro.workflow.parser import parse_graph

    source = 'digraph T { start [shape=Mdiamond]; "../../x" [shape=box] ; start -> "../../x" }'
    with pytest.raises(DotParseError):
        parse_graph(source)
