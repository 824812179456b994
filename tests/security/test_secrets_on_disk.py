"""Finding 7: a command stage that prints the server's secrets leaves no trace of them.

A real `fabro serve` holds secrets in its environment (a provider key, a variable whose name
says token, one marked secret only by [redaction] secret_env) and its JWT signing key in its
data folder. A workflow tries to print them every way it can: from its own environment, from
the server's (`/proc/$PPID/environ`), from the key file, and through an agent's shell tool.
None of the values may reach the SQLite file (-wal included), the stage files, the SSE stream
or what the model is sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from fabro.events.redact import Redactor, StreamRedactor
from tests.e2e.runs_support import (
    read_events,
    server_toml,
    start_run,
    token_for,
    wait_for_status,
)
from tests.e2e.serverproc import ServerProcess, start_server
from tests.llm import fake_providers as fp
from tests.llm.fake_providers import ANTHROPIC_PATH, FakeProviders, ThreadedFake

KEY = "sk-ant-ondisk-0123456789abcdefghij"
TOKEN = "tok-0123456789-abcdefghij"
SECRET = "plain-words-Correct-Horse-Battery-42"  # secret by configuration only
ENV = {"MY_SERVICE_TOKEN": TOKEN, "DEPLOY_CREDS": SECRET, "ANTHROPIC_API_KEY": KEY}

# Through the server's environment (the names first, so that they head the context value the
# next prompt's preamble shows), then as they are, then the signing key's lines.
VIA_PROC = (
    "xargs -0 -n1 < /proc/$PPID/environ | grep -e CREDS -e TOKEN -e API_KEY; "
    "cat /proc/$PPID/environ; cat /proc/$PPID/environ >&2; grep -v -e ----- KEYFILE"
)
FLOW = f"""digraph Leak {{
  graph [goal="Leak", default_provider="anthropic", default_fidelity="summary:high"]
  start [shape=Mdiamond]
  via_env [shape=parallelogram,
           script="echo env:$DEPLOY_CREDS:$MY_SERVICE_TOKEN:$ANTHROPIC_API_KEY; env"]
  via_proc [shape=parallelogram, script="{VIA_PROC}"]
  ask [shape=box, prompt="Summarise"]
  exit [shape=Msquare]
  start -> via_env -> via_proc -> ask -> exit
}}"""


@pytest.fixture
def fake() -> Iterator[FakeProviders]:
    with ThreadedFake() as server:
        yield server


@pytest.fixture
def served(tmp_path: Path, fake: FakeProviders) -> Iterator[tuple[ServerProcess, str, Path]]:
    data_dir = tmp_path / "data"
    token = token_for(data_dir)  # the key pair the server signs with, in its data folder
    server = start_server(
        tmp_path / "server",
        config=server_toml() + '[redaction]\nsecret_env = ["DEPLOY_CREDS"]\n',
        data_dir=data_dir,
        env={**ENV, "ANTHROPIC_BASE_URL": fake.url},
    )
    try:
        yield server, token, data_dir
    finally:
        server.stop()


def key_lines(data_dir: Path) -> list[str]:
    """The base64 lines of the server's JWT signing key."""
    pem = (data_dir / "keys" / "jwt_ed25519.pem").read_text()
    return [line for line in pem.splitlines() if line and not line.startswith("-")]


def test_no_trace_of_a_secret(served: tuple[ServerProcess, str, Path], fake: FakeProviders) -> None:
    server, token, data_dir = served
    key_file = data_dir / "keys" / "jwt_ed25519.pem"
    secrets = {"key": KEY, "token": TOKEN, "configured": SECRET}
    secrets.update({f"jwt key line {n}": line for n, line in enumerate(key_lines(data_dir))})
    shell = ("t1", "shell", {"command": "cat /proc/$PPID/environ; echo $DEPLOY_CREDS"})
    fake.anthropic(fp.anthropic("Looking.", [shell]), fp.anthropic("Nothing to see."))

    with server.client(token=token) as http:
        run_id = start_run(http, FLOW.replace("KEYFILE", str(key_file)))
        final = wait_for_status(http, run_id, {"completed", "failed"}, timeout_s=30)
        assert final["status"] == "completed", final
        stream = "\n".join(event.raw for event in read_events(http, run_id))
        served_views = [
            http.get(f"/runs/{run_id}/{view}").text for view in ("context", "checkpoint", "stages")
        ]

    nodes = data_dir / "runs" / run_id / "nodes"
    proc_out = (nodes / "via_proc" / "stdout.log").read_text(encoding="utf-8")
    assert "DEPLOY_CREDS=[REDACTED]" in proc_out  # the command did print them
    assert "env:::" in (nodes / "via_env" / "stdout.log").read_text()  # its env had none

    places: dict[str, bytes] = {"SSE stream": stream.encode()}
    places.update({f"GET {n}": text.encode() for n, text in enumerate(served_views)})
    for suffix in ("", "-wal", "-shm"):
        db = data_dir / f"fabro.db{suffix}"
        if db.exists():
            places[db.name] = db.read_bytes()
    for file in nodes.rglob("*"):
        if file.is_file():
            places[str(file.relative_to(nodes))] = file.read_bytes()
    bodies = fake.bodies(ANTHROPIC_PATH)
    assert len(bodies) == 2
    for number, body in enumerate(bodies):
        places[f"LLM request {number + 1}"] = json.dumps(body, ensure_ascii=False).encode()
    prompt = json.dumps(bodies[0]["messages"])
    assert "[REDACTED]" in prompt  # the preamble carried the redacted output
    assert "[REDACTED]" in json.dumps(bodies[1]["messages"][-1])  # and so did the tool result
    for where, data in places.items():
        for name, secret in secrets.items():
            assert secret.encode() not in data, f"{name} appears in {where}"


# ---- the mechanism: a secret cut anywhere between two pieces of a stream ----------------------


@pytest.mark.parametrize("lines", [True, False])
def test_a_secret_cut_anywhere_in_a_stream_is_redacted(lines: bool) -> None:
    redactor = Redactor([SECRET, TOKEN])
    text = f"a line\nsome {SECRET} and {TOKEN}, then s and {SECRET[:5]}\nend"
    expected = redactor.text(text)
    assert SECRET not in expected and TOKEN not in expected
    for first in range(len(text) + 1):
        for second in (first, min(first + 7, len(text))):
            stream = StreamRedactor(redactor, lines=lines)
            pieces = [text[:first], text[first:second], text[second:]]
            out = [stream.feed(piece) for piece in pieces] + [stream.close()]
            joined = "".join(out)
            assert SECRET not in joined and TOKEN not in joined, pieces
            for value in (SECRET, TOKEN):  # nor more than one character of one's start
                assert all(value[:2] not in part for part in out if part.endswith(value[:2]))
            if lines:
                assert joined == expected, pieces


def test_without_lines_text_goes_on_at_once_but_for_the_start_of_a_secret() -> None:
    stream = StreamRedactor(Redactor([SECRET]), lines=False)
    assert stream.feed("Hello") == "Hello"
    assert stream.feed(" plain-wo") == " "  # could be the secret: held back
    assert stream.feed("rds and more") == "plain-words and more"
    assert stream.feed(SECRET[:-1]) == ""
    assert stream.feed(SECRET[-1] + "!") == "[REDACTED]!"
    assert stream.close() == ""
