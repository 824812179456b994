"""`fabro validate` and `fabro graph` (cli.md §3, §4), through the library and through click."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from fabro.cli import cli
from fabro.workflow import commands
from fabro.workflow.commands import graph_command, parse_var_options, validate_command
from fabro.workflow.errors import DotNotAvailableError, WorkflowSourceError
from fabro.workflow.source import registry_dir, resolve_workflow

BRANCH = """digraph Branch {
    graph [goal="Implement $feature"]
    start [shape=Mdiamond, label="Start"]
    exit  [shape=Msquare, label="Exit"]
    implement [label="Implement", prompt="Implement the plan", goal_gate=true]
    start -> implement -> exit
}
"""
GOAL_GATE = (
    "warning [node: implement]: Node 'implement' has goal_gate=true but no retry_target or "
    "fallback_retry_target (goal_gate_has_retry)"
)
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "branch.dot").write_text(BRANCH, encoding="utf-8")
    return tmp_path


def test_validate_text_ok(workdir: Path) -> None:
    result = validate_command("branch.dot", var_options=["feature=search"])
    assert result.exit_code == 0
    assert result.stdout == b""
    assert result.stderr == [
        "Workflow: Branch (3 nodes, 2 edges)",
        "Graph: branch.dot",
        GOAL_GATE,
        "Validation: OK",
    ]


def test_validate_text_errors(workdir: Path) -> None:
    result = validate_command("branch.dot")
    assert result.exit_code == 1
    assert result.stderr[-2:] == [
        "error: Graph goal uses undefined variable $feature (undefined_variable)",
        "error: Validation failed",
    ]


def test_goal_option_overrides(workdir: Path) -> None:
    assert validate_command("branch.dot", goal="Plain goal").exit_code == 0


def test_validate_json(workdir: Path) -> None:
    result = validate_command("branch.dot", var_options=["feature=x"], as_json=True)
    assert result.exit_code == 0
    assert result.stderr == []
    assert json.loads(result.stdout) == {
        "workflow": "Branch",
        "path": "branch.dot",
        "nodes": 3,
        "edges": 2,
        "valid": True,
        "diagnostics": [
            {
                "rule": "goal_gate_has_retry",
                "severity": "warning",
                "node_id": "implement",
                "message": "Node 'implement' has goal_gate=true but no retry_target or "
                "fallback_retry_target",
            }
        ],
    }


def test_validate_parse_error(workdir: Path) -> None:
    (workdir / "bad.dot").write_text('digraph B {\n graph [goal="x"\n  model_stylesheet="y"]\n}')
    text = validate_command("bad.dot")
    assert text.exit_code == 1
    assert text.stderr == [
        "error: Parse error: bad.dot:3:3: expected ',' or ']', found 'model_stylesheet'"
    ]
    as_json = validate_command("bad.dot", as_json=True)
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout) == {
        "workflow": None,
        "path": "bad.dot",
        "nodes": 0,
        "edges": 0,
        "valid": False,
        "diagnostics": [
            {
                "rule": "parse_error",
                "severity": "error",
                "message": "Parse error: 3:3: expected ',' or ']', found 'model_stylesheet'",
                "line": 3,
                "col": 3,
            }
        ],
    }


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("missing.dot", "error: Workflow not found: missing.dot"),
        (
            "notes.txt",
            "error: Unsupported workflow file: notes.txt (expected .dot, .fabro or .toml)",
        ),
        ("no_such_name", "error: Workflow not found: no_such_name"),
    ],
)
def test_validate_missing_files_exit_2(workdir: Path, argument: str, message: str) -> None:
    (workdir / "notes.txt").write_text("x")
    result = validate_command(argument, registry=workdir / "registry")
    assert (result.exit_code, result.stderr) == (2, [message])


@pytest.mark.parametrize("option", ["novalue", "=x", "1a=b"])
def test_malformed_var_exits_2(workdir: Path, option: str) -> None:
    result = validate_command("branch.dot", var_options=[option])
    assert (result.exit_code, result.stderr) == (
        2,
        [f"error: Invalid --var '{option}': expected KEY=VALUE"],
    )


def test_parse_var_options() -> None:
    assert parse_var_options(["a=1", "b=x=y", "a=2", "c="]) == {"a": "2", "b": "x=y", "c": ""}
    with pytest.raises(WorkflowSourceError):
        parse_var_options(["bad key=1"])


def test_run_config(workdir: Path) -> None:
    (workdir / "run.toml").write_text(
        'version = 1\ngoal = "Add $feature"\ngraph = "branch.dot"\nsetup = ["x"]\n'
        '[vars]\nfeature = "search"\n'
    )
    source = resolve_workflow("run.toml")
    assert (source.path, source.goal, source.vars) == (
        Path("branch.dot"),
        "Add $feature",
        {"feature": "search"},
    )
    result = validate_command("run.toml", as_json=True)
    assert result.exit_code == 0
    assert result.stderr == ["run.toml: ignoring unsupported run configuration key 'setup'"]
    # --var wins over the run configuration, --goal over its goal
    result = validate_command("run.toml", var_options=["feature=x"], goal="G $nope")
    assert result.exit_code == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('goal = "x"\n', "'graph' is required"),
        ('graph = "nowhere.dot"\n', "Workflow not found: "),
        ("graph = [\n", "Invalid run configuration"),
        ('graph = "branch.dot"\nvars = 3\n', "[vars] must be a table"),
    ],
)
def test_bad_run_configs(workdir: Path, content: str, message: str) -> None:
    (workdir / "run.toml").write_text(content)
    result = validate_command("run.toml")
    assert result.exit_code == 2
    assert message in result.stderr[0]


def test_registry_workflow(workdir: Path) -> None:
    folder = workdir / "registry" / "fix_build"
    folder.mkdir(parents=True)
    (folder / "workflow.fabro").write_text(BRANCH.replace("$feature", "$target"))
    (folder / "workflow.toml").write_text('[vars]\ntarget = "ci"\n')
    result = validate_command("fix_build", registry=workdir / "registry")
    assert result.exit_code == 0, result.stderr
    assert result.stderr[1] == f"Graph: {folder / 'workflow.fabro'}"


def test_registry_dir_precedence(tmp_path: Path) -> None:
    assert registry_dir(tmp_path / "w", None, {}) == tmp_path / "w"
    assert registry_dir(None, None, {"FABRO_WORKFLOWS_DIR": "/env/w"}) == Path("/env/w")
    assert registry_dir(None, tmp_path, {}) == tmp_path / "workflows"
    assert registry_dir(None, None, {"FABRO_DATA_DIR": "/data"}) == Path("/data/workflows")


@needs_dot
def test_graph_svg_to_stdout_and_png_to_file(workdir: Path) -> None:
    svg = graph_command("branch.dot", var_options=["feature=x"])
    assert svg.exit_code == 0 and svg.stdout.startswith(b"<?xml")
    png = graph_command(
        "branch.dot", fmt="png", output=workdir / "out.png", var_options=["feature=x"]
    )
    assert png.exit_code == 0 and png.stdout == b""
    assert (workdir / "out.png").read_bytes().startswith(b"\x89PNG")


def test_graph_refuses_png_on_a_terminal(workdir: Path) -> None:
    result = graph_command("branch.dot", fmt="png", stdout_is_tty=True)
    assert result.exit_code == 2
    assert result.stderr == ["error: Refusing to write PNG to a terminal; use -o FILE"]


def test_graph_validation_errors(workdir: Path) -> None:
    result = graph_command("branch.dot")
    assert result.exit_code == 1
    assert result.stderr[-1] == "error: Validation failed"


def test_graph_without_dot(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable(dot_text: str, fmt: str, timeout_s: float = 10) -> bytes:
        raise DotNotAvailableError()

    monkeypatch.setattr(commands, "render", unavailable)
    result = graph_command("branch.dot", var_options=["feature=x"])
    assert result.exit_code == 1
    assert result.stderr[-1] == "error: Graphviz dot command not available."


def test_cli_validate(workdir: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["validate", "branch.dot", "--var", "feature=x"])
    assert ok.exit_code == 0
    assert ok.stderr.splitlines()[-1] == "Validation: OK"
    as_json = runner.invoke(cli, ["validate", "branch.dot", "--json", "--goal", "g"])
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout)["valid"] is True
    missing = runner.invoke(cli, ["validate", "nope.dot"])
    assert missing.exit_code == 2


def test_cli_graph(workdir: Path) -> None:
    runner = CliRunner()
    bad_format = runner.invoke(cli, ["graph", "branch.dot", "--format", "gif"])
    assert bad_format.exit_code == 2
    if shutil.which("dot") is not None:
        out = workdir / "g.svg"
        result = runner.invoke(cli, ["graph", "branch.dot", "--var", "feature=x", "-o", str(out)])
        assert result.exit_code == 0, result.stderr
        assert out.read_bytes().startswith(b"<?xml")
