"""Exit statuses, command by command, against the one table (fabro.exit_codes, cli.md).

0, 1 and 2 are checked here in-process; `runs start --follow`'s 0/1/3/130 and the `runs`
commands' successes run against a real server in tests/e2e/test_runs_cli.py.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from fabro.auth.keys import ensure_key_pair
from fabro.cli import cli
from fabro.exit_codes import FAILED, SUCCESS, USAGE
from tests.cli_tree import COMMANDS, IDS
from tests.e2e.serverproc import REPO_ROOT

OK = (
    'digraph Ok { start [shape=Mdiamond]; hello [shape=parallelogram, script="echo hi"];'
    " exit [shape=Msquare]; start -> hello -> exit }"
)
FAILING = (
    "digraph Failing { start [shape=Mdiamond];"
    ' fail [shape=parallelogram, goal_gate=true, script="exit 3"];'
    " exit [shape=Msquare]; start -> fail -> exit }"
)
INVALID = "digraph Invalid { a -> b }"
UNREACHABLE = {"FABRO_SERVER": "http://127.0.0.1:9", "FABRO_TOKEN": "t"}


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    for name, text in (("ok.dot", OK), ("failing.dot", FAILING), ("invalid.dot", INVALID)):
        (tmp_path / name).write_text(text)
    ensure_key_pair(tmp_path / "data" / "keys")
    return {
        "ok": str(tmp_path / "ok.dot"),
        "failing": str(tmp_path / "failing.dot"),
        "invalid": str(tmp_path / "invalid.dot"),
        "data": str(tmp_path / "data"),
        "key": str(tmp_path / "data" / "keys" / "jwt_ed25519.pem"),
        "dir": str(tmp_path),
    }


CASES: list[tuple[str, list[str], int]] = [
    ("version", ["-V"], SUCCESS),
    ("validate: valid", ["validate", "{ok}"], SUCCESS),
    ("validate: invalid", ["validate", "{invalid}"], FAILED),
    ("validate: no such file", ["validate", "{dir}/none.dot"], USAGE),
    ("graph: invalid", ["graph", "{invalid}"], FAILED),
    ("graph: unknown extension", ["graph", "{ok}", "-o", "{dir}/g.gif"], USAGE),
    ("graph: --format contradicts -o",
     ["graph", "{ok}", "--format", "png", "-o", "{dir}/g.svg"], USAGE),
    ("token", ["token", "--private-key", "{key}"], SUCCESS),
    ("token: no key", ["token", "--private-key", "{dir}/none.pem"], FAILED),
    ("certs init", ["certs", "init", "--dir", "{dir}/certs"], SUCCESS),
    ("certs init: bad --days", ["certs", "init", "--days", "0"], USAGE),
    ("completion", ["completion", "zsh"], SUCCESS),
    ("completion: unknown shell", ["completion", "tcsh"], USAGE),
    ("serve: unknown provider", ["serve", "--provider", "nope"], USAGE),
    ("runs list: no server", ["runs", "list"], FAILED),
    ("runs show: no server", ["runs", "show", "R"], FAILED),
    ("runs start: no server", ["runs", "start", "{ok}"], FAILED),
    ("runs start: no such file", ["runs", "start", "{dir}/none.dot"], USAGE),
    ("runs start: bad --label", ["runs", "start", "{ok}", "--label", "x"], USAGE),
    ("runs cancel: no server", ["runs", "cancel", "R"], FAILED),
    ("runs pause: no server", ["runs", "pause", "R"], FAILED),
    ("runs unpause: no server", ["runs", "unpause", "R"], FAILED),
    ("runs answer: no server", ["runs", "answer", "R", "q-1", "--value", "x"], FAILED),
    ("runs answer: two choices",
     ["runs", "answer", "R", "q-1", "--value", "x", "--option-key", "A"], USAGE),
    ("runs logs: no server", ["runs", "logs", "R"], FAILED),
    ("runs logs: bad --tail", ["runs", "logs", "R", "--tail", "0"], USAGE),
]  # fmt: skip


@pytest.mark.parametrize(("name", "args", "code"), CASES, ids=[case[0] for case in CASES])
def test_exit_status(name: str, args: list[str], code: int, files: dict[str, str]) -> None:
    env = {**UNREACHABLE, "HOME": files["dir"], "FABRO_DATA_DIR": files["data"]}
    result = CliRunner().invoke(cli, [arg.format(**files) for arg in args], env=env)
    assert result.exit_code == code, result.output


@pytest.mark.parametrize(
    ("workflow", "code"), [("ok", SUCCESS), ("failing", FAILED), ("invalid", USAGE)]
)
def test_run_exit_status(workflow: str, code: int, files: dict[str, str]) -> None:
    # A real process: `fabro run` reads its own stdin and installs signal handlers.
    result = subprocess.run(
        [sys.executable, "-m", "fabro", "run", files[workflow], "--data-dir", files["data"]],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == code, result.stderr


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_an_unknown_option_is_a_usage_error(path: tuple[str, ...], command: click.Command) -> None:
    result = CliRunner().invoke(cli, [*path[1:], "--no-such-option"])
    assert result.exit_code == USAGE
    assert "No such option '--no-such-option'" in result.output


def test_a_startup_error_is_one_line_and_status_1(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fabro", "serve", "--config", str(tmp_path / "none.toml")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == FAILED
    assert result.stderr == f"error: config file not found: {tmp_path / 'none.toml'}\n"


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
@pytest.mark.parametrize(
    ("name", "magic"), [("g.svg", b"<?xml"), ("g.png", b"\x89PNG"), ("g.PDF", b"%PDF")]
)
def test_graph_writes_the_format_its_extension_names(
    name: str, magic: bytes, files: dict[str, str]
) -> None:
    out = Path(files["dir"]) / name
    result = CliRunner().invoke(cli, ["graph", files["ok"], "-o", str(out)])
    assert result.exit_code == SUCCESS, result.output
    assert out.read_bytes().startswith(magic)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_graph_format_on_stdout(files: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["graph", files["ok"], "--format", "pdf"])
    assert result.exit_code == SUCCESS
    assert result.stdout_bytes.startswith(b"%PDF")
