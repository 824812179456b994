"""`fabro runs ...` against a real server (cli.md §6): real `fabro serve`, real CLI processes."""

from __future__ import annotations

import getpass
import json
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from fabro.auth.keys import ensure_key_pair, mint_token
from tests.e2e.conftest import StartServer
from tests.e2e.runs_support import wait_until
from tests.e2e.serverproc import REPO_ROOT, ServerProcess, base_env, start_server

GATED = (
    'digraph Gated { start [shape=Mdiamond]; approve [shape=hexagon, label="Ship it?"];'
    ' exit [shape=Msquare]; start -> approve; approve -> exit [label="[Y] Yes"];'
    ' approve -> exit [label="[N] No"] }'
)
SLOW = (
    'digraph Slow { start [shape=Mdiamond]; w [shape=parallelogram, script="sleep 30"];'
    " exit [shape=Msquare]; start -> w -> exit }"
)
FAILING = """digraph Failing {
  start [shape=Mdiamond]
  fail  [shape=parallelogram, label="Fail loudly", goal_gate=true,
         script="echo out-line; echo first-err >&2; echo boom-on-stderr >&2; exit 3"]
  exit  [shape=Msquare]
  start -> fail -> exit
}
"""
NO_MODEL = {"ANTHROPIC_API_KEY": "", "OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""}


@dataclass
class Served:
    server: ServerProcess
    token: str
    data: Path

    def fabro(
        self, *args: str, stdin: str = "", env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "fabro", "runs", *args],
            cwd=REPO_ROOT, env=self.env(env), input=stdin, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        variables = {"FABRO_SERVER": self.server.url, "FABRO_TOKEN": self.token}
        return base_env(self.server.workdir / "home", {**variables, **(extra or {})})

    def api(self, method: str, path: str) -> dict[str, object]:
        with self.server.client(token=self.token) as http:
            response = http.request(method, path)
            assert response.status_code < 400, response.text
            return dict(response.json()) if response.content else {}


def jwt_config(data: Path, users: str = '["alice"]') -> str:
    return (
        f'data_dir = "{data}"\n[api]\nauthentication_strategies = ["jwt"]\n'
        f"[web.auth]\nallowed_usernames = {users}\n"
    )


def start(workdir: Path, users: str = '["alice"]') -> Served:
    data = workdir / "data"
    key = ensure_key_pair(data / "keys")
    server = start_server(workdir, config=jwt_config(data, users), data_dir=data, env=NO_MODEL)
    token = mint_token(key, subject="alice", issuer="fabro-web", ttl_s=3600)
    return Served(server, token, data)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for the tests that need nothing special of it."""
    served = start(tmp_path_factory.mktemp("runs-cli"))
    yield served
    served.server.stop()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def started_id(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def followed_id(stderr: str) -> str:
    """The run id of `--follow`'s `Run: <id>  (<url>)` line."""
    return next(line.split()[1] for line in stderr.splitlines() if line.startswith("Run: "))


def wait_for_question(served: Served, run_id: str) -> None:
    wait_until(
        f"a question of {run_id}", lambda: served.api("GET", f"/runs/{run_id}/questions")["data"]
    )


def test_list_show_answer_events_cancel(served: Served, tmp_path: Path) -> None:
    run_id = started_id(served.fabro("start", str(write(tmp_path, "gated.dot", GATED))))
    slow_id = started_id(served.fabro("start", str(write(tmp_path, "slow.dot", SLOW))))
    wait_for_question(served, run_id)

    listing = served.fabro("list")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "CREATED", "TITLE"]
    rows = {line.split()[0]: line.split()[1] for line in lines[1:]}
    assert rows[run_id] == "waiting"  # a run at a human gate shows as such
    assert rows[slow_id] in ("queued", "starting", "running")
    every = json.loads(served.fabro("list", "--json").stdout)
    page = served.fabro("list", "--limit", "1", "--offset", "1", "--json")
    assert [r["id"] for r in json.loads(page.stdout)] == [every[1]["id"]]  # one page of it

    shown = served.fabro("show", run_id)
    assert "status: waiting (running, at a human gate)" in shown.stdout
    assert "pending question: q-1 Ship it?" in shown.stdout
    assert f"answer with: fabro runs answer {run_id} q-1 --option-key KEY" in shown.stdout

    wrong = served.fabro("answer", run_id, "q-1", "--option-key", "Z")
    assert (wrong.returncode, wrong.stderr) == (
        1,
        "error: no option 'Z' in q-1; valid keys: Y, N\n",
    )
    answered = served.fabro("answer", run_id, "q-1", "--option-key", "y")  # any case
    assert answered.returncode == 0 and answered.stdout == "answered q-1\n"
    again = served.fabro("answer", run_id, "q-1", "--key", "Y")  # the old spelling still works
    assert again.returncode == 1
    assert again.stderr == (
        "warning: --key is deprecated; use --option-key\n"
        "error: 409 Conflict: Question no longer exists or was already answered.\n"
    )

    events = served.fabro("events", run_id, "--json")
    assert events.returncode == 0, events.stderr
    frames = [json.loads(line) for line in events.stdout.splitlines()]
    assert [f["id"] for f in frames] == list(range(1, len(frames) + 1))
    assert "WorkflowRunCompleted" in frames[-1]["data"]
    completed = [
        f["data"]["InterviewCompleted"] for f in frames if "InterviewCompleted" in f["data"]
    ]
    assert completed and completed[0]["answer"] == "Y"  # the canonical key was sent
    text = served.fabro("events", run_id, "--after", str(len(frames) - 1))
    assert text.stdout.startswith(f"{len(frames)} WorkflowRunCompleted {{")

    cancelled = served.fabro("cancel", slow_id)
    assert cancelled.stdout == f"cancelled {slow_id}\n"
    missing = served.fabro("show", "NOPE")
    assert missing.returncode == 1 and missing.stderr == "error: 404 Not Found: Run not found.\n"
    assert served.fabro("answer", run_id, "q-1").returncode == 2


def test_start_follow_completes_answering_gates_from_stdin(served: Served) -> None:
    # The example's gate asks once, is told to rewrite the notes ("r": keys match in any
    # case), asks again and is approved.
    result = served.fabro(
        "start", str(REPO_ROOT / "examples" / "approval-release.dot"), "--follow",
        stdin="r\nA\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    err = result.stderr
    assert err.startswith("Run: ")
    assert "start build (Build the release)" in err  # fabro run's progress lines
    assert err.count("? Publish demo 1.2.0?") == 2
    assert "  [A] Approve\n" in err and "> r\n" in err and "> A\n" in err
    assert "done publish success" in err
    assert err.splitlines()[-1].startswith("Run completed in ")


def test_start_follow_stops_following_when_stdin_ends(served: Served, tmp_path: Path) -> None:
    result = served.fabro("start", str(write(tmp_path, "gated.dot", GATED)), "--follow")
    assert result.returncode == 3, result.stderr
    run_id = followed_id(result.stderr)
    assert "stdin ended before q-1 was answered; the run waits on the server." in result.stderr
    assert f"fabro runs answer {run_id} q-1 --option-key KEY" in result.stderr
    assert served.api("GET", f"/runs/{run_id}")["pending_question"] == {
        "id": "q-1",
        "text": "Ship it?",
    }
    served.api("POST", f"/runs/{run_id}/cancel")


def test_a_failed_run_and_its_stage_logs(served: Served, tmp_path: Path) -> None:
    result = served.fabro("start", str(write(tmp_path, "failing.dot", FAILING)), "--follow")
    assert result.returncode == 1, result.stderr
    run_id = followed_id(result.stderr)
    assert "fail fail " in result.stderr
    assert result.stderr.splitlines()[-1].startswith("Run failed in ")

    logs = served.fabro("logs", run_id)
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout == (
        "==> fail: stdout.log <==\nout-line\n\n"
        "==> fail: stderr.log <==\nfirst-err\nboom-on-stderr\n"
    )
    tail = served.fabro("logs", run_id, "fail", "--artifact", "stderr.log", "--tail", "1")
    assert tail.stdout == "==> fail: stderr.log <==\nboom-on-stderr\n"
    followed = served.fabro("logs", run_id, "--follow")  # the run is over: prints and ends
    assert followed.returncode == 0 and followed.stdout == logs.stdout
    unknown = served.fabro("logs", run_id, "nope")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith(f"error: no stage 'nope' in run {run_id} (stages: ")


def test_logs_follow_reads_output_as_it_is_written(served: Served, tmp_path: Path) -> None:
    ticking = (
        "digraph Ticking { start [shape=Mdiamond]; tick [shape=parallelogram, "
        'script="for i in 1 2 3; do echo tick-$i; sleep 0.4; done"]; exit [shape=Msquare];'
        " start -> tick -> exit }"
    )
    run_id = started_id(served.fabro("start", str(write(tmp_path, "ticking.dot", ticking))))
    followed = served.fabro("logs", run_id, "tick", "--follow", "--artifact", "stdout.log")
    assert followed.returncode == 0, followed.stderr
    assert followed.stdout == "==> tick: stdout.log <==\ntick-1\ntick-2\ntick-3\n"
    assert served.api("GET", f"/runs/{run_id}")["status"] == "completed"


def test_pause_and_unpause(served: Served, tmp_path: Path) -> None:
    run_id = started_id(served.fabro("start", str(write(tmp_path, "slow.dot", SLOW))))
    wait_until(
        "the run to start", lambda: served.api("GET", f"/runs/{run_id}")["status"] == "running"
    )
    paused = served.fabro("pause", run_id)
    assert (paused.returncode, paused.stdout) == (0, f"paused {run_id}\n")
    assert "status: paused" in served.fabro("show", run_id).stdout
    again = served.fabro("pause", run_id)
    assert (again.returncode, again.stderr) == (1, "error: 409 Conflict: Run is not pausable.\n")
    unpaused = served.fabro("unpause", run_id)
    assert (unpaused.returncode, unpaused.stdout) == (0, f"unpaused {run_id}\n")
    assert served.fabro("cancel", run_id).returncode == 0


def test_ctrl_c_stops_following_and_the_run_goes_on(served: Served, tmp_path: Path) -> None:
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "fabro", "runs", "start", str(write(tmp_path, "s.dot", SLOW)),
             "--follow"],
            cwd=REPO_ROOT, env=served.env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=err,
        )  # fmt: skip
        try:
            wait_until("the slow stage to start", lambda: "start w " in errors.read_text())
            process.send_signal(signal.SIGINT)
            assert process.wait(30) == 130
        finally:
            if process.poll() is None:
                process.kill()
    text = errors.read_text()
    run_id = followed_id(text)
    assert f"Stopped following; the run goes on: fabro runs show {run_id}" in text
    assert served.api("GET", f"/runs/{run_id}")["status"] == "running"
    served.api("POST", f"/runs/{run_id}/cancel")


def test_start_refuses_what_the_server_refuses(served: Served, tmp_path: Path) -> None:
    invalid = write(tmp_path, "invalid.dot", "digraph X { a -> b }")
    result = served.fabro("start", str(invalid))
    assert result.returncode == 2
    assert result.stderr.startswith("error: 400 Bad Request: Validation error: ")
    assert served.fabro("start", "no/such/file.dot").returncode == 2
    unknown = served.fabro("start", "no-such-workflow")
    assert unknown.returncode == 2 and "Workflow not found: no-such-workflow" in unknown.stderr
    bad_var = served.fabro("start", str(invalid), "--var", "nope")
    assert (bad_var.returncode, bad_var.stderr) == (
        2,
        "error: Invalid --var 'nope': expected KEY=VALUE\n",
    )


def test_a_403_says_why(served: Served) -> None:
    key = ensure_key_pair(served.data / "keys")
    bob = mint_token(key, subject="bob", issuer="fabro-web", ttl_s=600)
    result = served.fabro("list", env={"FABRO_TOKEN": bob})
    assert (result.returncode, result.stderr) == (
        1,
        "error: 403 Forbidden: Access denied: user 'bob' is not in [web.auth] allowed_usernames.\n",
    )


def test_the_cli_finds_a_local_server_on_any_port(
    fabro_server: StartServer, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    ensure_key_pair(data / "keys")
    server = fabro_server(config=jwt_config(data, f'["{getpass.getuser()}"]'), data_dir=data)
    record = data / "server.json"
    assert json.loads(record.read_text()) == {"url": server.url, "pid": server.process.pid}
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    # No --server, no FABRO_SERVER, no token: the URL comes from server.json and the token is
    # minted from the data directory's key, for the OS user.
    home = tmp_path / "home"
    home.mkdir()
    for how in (["--data-dir", str(data)], []):
        env = base_env(home, {} if how else {"FABRO_DATA_DIR": str(data)})
        found = subprocess.run(
            [sys.executable, "-m", "fabro", "runs", "list", *how],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert found.returncode == 0, found.stderr
        assert found.stdout.startswith("ID ")
    assert server.stop() == 0
    assert not record.exists()  # removed on a clean shutdown


def test_an_empty_allow_list_warns_at_startup(tmp_path: Path) -> None:
    served = start(tmp_path, users="[]")
    try:
        warning = (
            "warning: JWT authentication is on but [web.auth] allowed_usernames is empty: "
            "every token will be refused (403)"
        )
        wait_until("the warning", lambda: warning in served.server.stderr)
        result = served.fabro("list")
        assert result.stderr == (
            "error: 403 Forbidden: Access denied: user 'alice' is not in [web.auth] "
            "allowed_usernames.\n"
        )
    finally:
        served.server.stop()


def test_connection_failure_is_one_line(tmp_path: Path) -> None:
    env = base_env(tmp_path, {"FABRO_SERVER": "http://127.0.0.1:9", "FABRO_TOKEN": "x"})
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "fabro", "runs", "list"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot connect to http://127.0.0.1:9: ")
    assert "(from FABRO_SERVER; " in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert time.monotonic() - started < 30


LINE = "\n".join(
    ["digraph Line {", "  start [shape=Mdiamond]", "  exit [shape=Msquare]"]
    + [f'  s{i} [shape=parallelogram, script="sleep 0.3"]' for i in range(8)]
    + ["  " + " -> ".join(["start", *(f"s{i}" for i in range(8)), "exit"]), "}"]
)


def test_events_go_on_across_a_server_restart(tmp_path: Path) -> None:
    """`runs events` is the SDK's stream: a server that stops mid-run (its stream ends) and
    comes back on the same port is followed to the run's end, every event once."""
    served = start(tmp_path)
    port = served.server.port
    try:
        run_id = started_id(served.fabro("start", str(write(tmp_path, "line.dot", LINE))))
        with subprocess.Popen(
            [sys.executable, "-m", "fabro", "runs", "events", run_id, "--json"],
            cwd=REPO_ROOT, env=served.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        ) as reader:  # fmt: skip
            assert reader.stdout is not None and reader.stderr is not None
            try:
                lines: list[str] = []
                while not any("StageCompleted" in line for line in lines):
                    line = reader.stdout.readline()  # the run goes on: a line, or the end
                    assert line, reader.stderr.read()
                    lines.append(line)
                served.server.stop()  # SIGTERM: the server ends its streams and exits
                served.server = start_server(
                    tmp_path, config=jwt_config(served.data), data_dir=served.data,
                    env=NO_MODEL, port=port,
                )  # fmt: skip
                reader.wait(timeout=90)  # its output is a few KB: the pipes never fill
            finally:
                if reader.poll() is None:
                    reader.kill()
            out, err = reader.stdout.read(), reader.stderr.read()  # after readline's buffer
    finally:
        served.server.stop()
    assert reader.returncode == 0, err
    events = [json.loads(line) for line in [*lines, *out.splitlines()]]
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert "WorkflowRunCompleted" in events[-1]["data"]
