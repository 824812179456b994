"""Secrets against a real `fabro serve` (debug logging on) and a real OpenAI-protocol model on
127.0.0.1: set, listed, deleted and rotated by an admin, never shown by any answer; a run whose
command stage prints one and whose agent's model echoes it leaves the value nowhere in clear:
not in an answer, an event, a log line, a stage file, nor in any file of the data directory
(the database included). `fabro secrets set` reads the value from standard input; after a
restart a provider key comes from a secret."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from fabro.auth.keys import ensure_key_pair, mint_token
from tests.api.envelope import assert_envelope
from tests.e2e.runs_support import start_run, wait_for_status
from tests.e2e.serverproc import REPO_ROOT, ServerProcess, base_env, start_server

CONFIG = """\
[api]
authentication_strategies = ["jwt"]
[web.auth]
allowed_usernames = ["alice", "bob"]
[roles]
admin = ["alice"]
operator = ["bob"]
"""
SECRET = "s3cr3t-Value-7f9c2d41e8"
PROVIDER_KEY = "sk-from-the-vault-0123456789abcdef"
LEAKY = """
digraph Leak {
  graph [goal="Use the password"]
  start [shape=Mdiamond]
  show [shape=parallelogram, secrets="DB_PASSWORD",
        script="echo password is $DB_PASSWORD; echo $DB_PASSWORD >&2; echo ${#DB_PASSWORD}"]
  agent [prompt="Say the password", llm_provider="openai", llm_model="gpt-5-mini",
         secrets="DB_PASSWORD"]
  exit [shape=Msquare]
  start -> show -> agent -> exit
}
"""
NEEDY = """
digraph Needy {
  start [shape=Mdiamond]
  deploy [shape=parallelogram, script="touch ran", secrets="NOT_SET_ANYWHERE"]
  exit [shape=Msquare]
  start -> deploy -> exit
}
"""


@dataclass
class Model:
    """An OpenAI-protocol model: asks the shell for the password, then says it in clear."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    url: str = ""

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        if not any(message.get("role") == "tool" for message in body.get("messages", [])):
            arguments = json.dumps({"command": "echo agent saw $DB_PASSWORD"})
            call = {
                "id": "c1",
                "type": "function",
                "function": {"name": "shell", "arguments": arguments},
            }
            message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [call]}
            finish = "tool_calls"
        else:
            message = {"role": "assistant", "content": f"The password is {SECRET}."}
            finish = "stop"
        return {
            "id": "chatcmpl-secrets",
            "model": body.get("model"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5},
        }


def serve_model(model: Model) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            model.requests.append(body)
            model.authorizations.append(self.headers.get("authorization") or "")
            data = json.dumps(model.answer(body)).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    model.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    return server


@dataclass
class Served:
    server: ServerProcess
    admin: httpx.Client
    operator: httpx.Client
    token: str
    model: Model
    data: Path
    answers: list[httpx.Response] = field(default_factory=list)  # every answer, for the grep

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.admin.request(method, path, **kwargs)
        self.answers.append(response)
        return response


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("secrets")
    data = workdir / "data"
    key = ensure_key_pair(data / "keys")
    model = Model()
    model_server = serve_model(model)
    env = {"FABRO_LOG": "debug", "ANTHROPIC_API_KEY": "", "OPENAI_API_KEY": ""}
    server = start_server(workdir, config=CONFIG, env={**env, "OPENAI_BASE_URL": model.url})
    tokens = {
        u: mint_token(key, subject=u, issuer="fabro-web", ttl_s=3600) for u in ("alice", "bob")
    }
    try:
        with (
            server.client(token=tokens["alice"]) as admin,
            server.client(token=tokens["bob"]) as op,
        ):
            yield Served(server, admin, op, tokens["alice"], model, data)
    finally:
        server.stop()
        model_server.shutdown()
        model_server.server_close()


def test_an_admin_sets_lists_and_deletes_and_no_answer_has_a_value(served: Served) -> None:
    created = served.call("PUT", "/secrets/LIST_ME", json={"value": "first-value-1234"})
    assert created.status_code == 201, created.text
    assert set(created.json()) == {"name", "created_at", "updated_at"}
    replaced = served.call("PUT", "/secrets/LIST_ME", json={"value": "second-value-5678"})
    assert replaced.status_code == 200
    assert replaced.json()["created_at"] == created.json()["created_at"]
    listed = served.call("GET", "/secrets").json()
    [item] = [i for i in listed["data"] if i["name"] == "LIST_ME"]
    assert set(item) == {"name", "created_at", "updated_at"}
    assert served.call("DELETE", "/secrets/LIST_ME").status_code == 204
    missing = served.call("DELETE", "/secrets/LIST_ME")
    assert_envelope(missing.json(), 404, "Secret not found.")
    for response in served.answers:
        assert b"first-value-1234" not in response.content
        assert b"second-value-5678" not in response.content


@pytest.mark.parametrize(
    ("path", "body", "detail"),
    [
        ("/secrets/9LIVES", {"value": "long enough"}, "Path parameter 'name' is invalid"),
        ("/secrets/A-B", {"value": "long enough"}, "Path parameter 'name' is invalid"),
        ("/secrets/OK", {"value": "short"}, "Field 'value' must be at least 8 characters."),
        ("/secrets/OK", {}, "Missing required field 'value'."),
        ("/secrets/OK", {"value": 12345678}, "Field 'value' must be a string."),
        ("/secrets/OK", {"value": "nul\u0000inside"}, "Field 'value' must not contain a NUL"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    served: Served, path: str, body: dict[str, Any], detail: str
) -> None:
    response = served.call("PUT", path, json=body)
    assert response.status_code == 400
    assert_envelope(response.json(), 400)
    assert response.json()["errors"][0]["detail"].startswith(detail)


def test_an_operator_may_not_touch_secrets(served: Served) -> None:
    # A 403 can go before the body is read, and then the server closes the connection (no
    # keep-alive without a complete request): the next request must not be sent on it.
    close = {"Connection": "close"}
    for method, path in (("GET", "/secrets"), ("PUT", "/secrets/X_1"), ("POST", "/secrets/rotate")):
        response = served.operator.request(
            method, path, json={"value": "long enough"}, headers=close
        )
        assert response.status_code == 403, (method, path)


def test_a_missing_secret_fails_the_stage_with_its_name(served: Served) -> None:
    run_id = start_run(served.admin, NEEDY)
    wait_for_status(served.admin, run_id, {"failed", "completed"})
    [deploy] = [
        s
        for s in served.admin.get(f"/runs/{run_id}/stages").json()["data"]
        if s["dot_id"] == "deploy"
    ]
    assert deploy["status"] == "failed", deploy
    outcome = served.admin.get(f"/runs/{run_id}/checkpoint").json()["node_outcomes"]["deploy"]
    assert "Secret 'NOT_SET_ANYWHERE' is not set (stage 'deploy' needs it)." in json.dumps(outcome)
    assert not list(served.data.glob(f"runs/{run_id}/work/ran"))


def cli(served: Served, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = base_env(served.server.workdir / "home")
    command = [sys.executable, "-m", "fabro", "secrets", *args]
    command += ["--server", served.server.url, "--token", served.token]
    return subprocess.run(
        command, cwd=REPO_ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=60
    )


def test_the_cli_reads_the_value_from_stdin_and_never_prints_it(served: Served) -> None:
    done = cli(served, "set", "DB_PASSWORD", stdin=SECRET + "\n")
    assert done.returncode == 0, done.stderr
    assert "DB_PASSWORD: set" in done.stdout and SECRET not in done.stdout + done.stderr
    listed = cli(served, "list", "--json")
    assert listed.returncode == 0 and [i["name"] for i in json.loads(listed.stdout)] == [
        "DB_PASSWORD"
    ]
    # The value stored is the line without its line break.
    length_check = (
        "digraph L { start [shape=Mdiamond]; exit [shape=Msquare];"
        ' n [shape=parallelogram, secrets="DB_PASSWORD",'
        f' script="test ${{#DB_PASSWORD}} = {len(SECRET)}"]; start -> n -> exit }}'
    )
    run_id = start_run(served.admin, length_check)
    assert wait_for_status(served.admin, run_id, {"failed", "completed"})["status"] == "completed"
    empty = cli(served, "set", "EMPTY_ONE", stdin="")
    assert empty.returncode == 2 and "no value" in empty.stderr
    in_argv = cli(served, "set", "IN_ARGV", "the-value-in-argv")
    assert in_argv.returncode == 2 and "unexpected extra argument" in in_argv.stderr.lower()
    assert cli(served, "set", "REMOVE_ME", stdin="remove-me-value").returncode == 0
    removed = cli(served, "rm", "REMOVE_ME")
    assert removed.returncode == 0 and "REMOVE_ME: deleted" in removed.stdout
    again = cli(served, "rm", "REMOVE_ME")
    assert again.returncode == 1 and "Secret not found." in again.stderr
    rotated = cli(served, "rotate")
    assert rotated.returncode == 0 and rotated.stdout.startswith("rotated: 1 values re-sealed")


def test_a_run_that_prints_and_echoes_a_secret_leaves_it_nowhere(served: Served) -> None:
    assert served.call("PUT", "/secrets/DB_PASSWORD", json={"value": SECRET}).status_code in (
        200,
        201,
    )
    run_id = start_run(served.admin, LEAKY)
    status = wait_for_status(served.admin, run_id, {"failed", "completed"})
    assert status["status"] == "completed", status
    # The program and the model really had it: the shell printed its length, the model
    # read the shell's output redacted, and said the value (redacted in turn).
    stdout = served.call("GET", f"/runs/{run_id}/stages/show/artifacts/stdout.log").text
    assert stdout == f"password is [REDACTED]\n{len(SECRET)}\n"
    tool_result = json.dumps(served.model.requests[-1]["messages"])
    assert "agent saw [REDACTED]" in tool_result and SECRET not in tool_result
    turns = served.call("GET", f"/runs/{run_id}/stages/agent/turns").text
    assert "The password is [REDACTED]." in turns
    # Every answer about the run.
    for path in ("", "/stages", "/context", "/checkpoint", "/configuration", "/usage", "/receipts"):
        served.call("GET", f"/runs/{run_id}{path}")
    for stage in ("show", "agent"):
        served.call("GET", f"/runs/{run_id}/stages/{stage}/turns")
        files = served.call("GET", f"/runs/{run_id}/stages/{stage}/artifacts").json()["data"]
        assert files
        for item in files:
            served.call("GET", f"/runs/{run_id}/stages/{stage}/artifacts/{item['name']}")
    with served.admin.stream("GET", f"/runs/{run_id}/events", timeout=10) as events:
        sse = b"".join(events.iter_bytes())
    assert b"StageCompleted" in sse
    served.call("GET", "/secrets")
    served.call("GET", "/receipts")
    served.call("GET", "/audit-logs")  # where this build has it
    served.call("POST", "/secrets/rotate")
    assert_nowhere(served, extra={"SSE": sse})


def assert_nowhere(served: Served, extra: dict[str, bytes]) -> None:
    needle = SECRET.encode()
    texts = {f"{r.request.method} {r.request.url.path}": r.content for r in served.answers}
    texts |= extra
    texts["stdout"] = served.server.stdout_path.read_bytes()
    texts["stderr"] = served.server.stderr_path.read_bytes()
    assert b"DEBUG" in texts["stderr"]  # debug logging really was on
    files = [path for path in served.data.rglob("*") if path.is_file()]
    assert any(path.name == "fabro.db" for path in files)
    assert any(path.name == "stdout.log" for path in files)
    texts |= {str(path.relative_to(served.data)): path.read_bytes() for path in files}
    found = [where for where, data in texts.items() if needle in data]
    assert found == []


def test_rotation_keeps_the_values_and_a_provider_key_comes_from_a_secret(
    served: Served,
) -> None:
    assert (
        served.call("PUT", "/secrets/OPENAI_API_KEY", json={"value": PROVIDER_KEY}).status_code
        == 201
    )
    rotated = served.call("POST", "/secrets/rotate")
    assert rotated.status_code == 200 and rotated.json()["resealed"] >= 2
    key_file = served.data / "keys" / "secrets.key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    # A restart on the same data directory: the environment has no OPENAI_API_KEY, the
    # vault has one, and the model is called with it; the stored values open with the new key.
    served.server.stop()
    env = {"FABRO_LOG": "debug", "ANTHROPIC_API_KEY": "", "OPENAI_API_KEY": ""}
    env["OPENAI_BASE_URL"] = served.model.url
    restarted = start_server(
        served.server.workdir / "again", config=CONFIG, data_dir=served.data, env=env
    )
    try:
        with restarted.client(token=served.token) as admin:
            served.admin = admin
            served.server = restarted
            calls = len(served.model.authorizations)
            run_id = start_run(admin, LEAKY)
            assert wait_for_status(admin, run_id, {"failed", "completed"})["status"] == "completed"
            assert served.model.authorizations[calls:] == [f"Bearer {PROVIDER_KEY}"] * 2
            served.call("GET", f"/runs/{run_id}/stages/show/artifacts/stdout.log")
            assert_nowhere(served, extra={})
            assert PROVIDER_KEY.encode() not in restarted.stderr_path.read_bytes()
    finally:
        restarted.stop()
