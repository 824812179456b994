"""The StartRunRequest of `fabro runs start`: a file's own @file references read client-side."""

from __future__ import annotations

from pathlib import Path

import pytest

from fabro.client.start import inline_references, quote, start_request
from fabro.workflow.errors import WorkflowSourceError
from fabro.workflow.prepare import prepare

REPO = Path(__file__).resolve().parents[2]

FLOW = """\ufeffdigraph Flow {
  graph [goal="@goal.md"]
  start [shape=Mdiamond]
  subgraph cluster_a { node [prompt="@shared.md"]; a; b }
  c [prompt="@c.md"]  // a comment with "quotes" stays
  d [prompt="@../outside.md"]
  e [prompt="plain $x"]
  exit [shape=Msquare]
  start -> a -> b -> c -> d -> e -> exit
}
"""
TRICKY = 'say "hi" \\n not a newline,\nthen a real one; a tab\there and é ✓\n'


@pytest.fixture
def flow(tmp_path: Path) -> Path:
    folder = tmp_path / "wf"
    folder.mkdir()
    (folder / "goal.md").write_text("Ship $x")
    (folder / "shared.md").write_text("shared prompt")
    (folder / "c.md").write_text(TRICKY)
    (tmp_path / "outside.md").write_text("never read")
    path = folder / "flow.dot"
    path.write_text(FLOW)
    return path


def test_references_are_inlined_and_the_rest_is_kept(flow: Path) -> None:
    source = inline_references(flow.read_text(), flow)
    graph = prepare(source, vars={"x": "X"}, resolve_files=False).graph  # as the server does
    assert graph.goal == "Ship X"
    assert graph.nodes["a"].attrs["prompt"].text == "shared prompt"
    assert graph.nodes["b"].attrs["prompt"].text == "shared prompt"
    assert graph.nodes["c"].attrs["prompt"].text == TRICKY
    assert graph.nodes["d"].attrs["prompt"].text == "@../outside.md"  # outside its folder
    assert graph.nodes["e"].attrs["prompt"].text == "plain X"
    assert '// a comment with "quotes" stays' in source


def test_quote_round_trips_through_the_lexer() -> None:
    for text in ("", '"', "\\", "\\n", 'a\\"b', TRICKY):
        graph = prepare(f"digraph G {{ graph [goal={quote(text)}] }}").graph
        assert graph.attrs["goal"].text == text


def test_a_file_is_sent_as_its_source(flow: Path) -> None:
    body, warnings = start_request(
        str(flow), goal=None, var_options=["x=1"], label_options=["team=core"]
    )
    assert set(body) == {"dot_source", "vars", "labels"}
    assert "shared prompt" in body["dot_source"] and "@shared.md" not in body["dot_source"]
    assert (body["vars"], body["labels"], warnings) == ({"x": "1"}, {"team": "core"}, [])


def test_a_run_configuration_gives_vars_labels_and_goal() -> None:
    toml = REPO / "examples" / "variables.toml"
    body, _ = start_request(
        str(toml), goal="Deploy", var_options=["environment=prod"], label_options=[]
    )
    assert body["vars"] == {"service": "api", "environment": "prod"}  # --var wins
    assert body["labels"] == {"team": "examples"}
    assert body["goal"] == "Deploy"
    assert "digraph" in body["dot_source"]


def test_a_name_is_a_registry_workflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hello").mkdir()  # a folder of that name is no workflow file
    body, _ = start_request("hello", goal="Hi", var_options=[], label_options=[])
    assert body == {"workflow": "hello", "goal": "Hi"}


@pytest.mark.parametrize(
    ("argument", "options", "message"),
    [
        ("no/such.dot", {}, "Workflow not found: no/such.dot"),
        ("hello", {"var_options": ["nope"]}, "Invalid --var 'nope': expected KEY=VALUE"),
        ("hello", {"label_options": ["=x"]}, "Invalid --label '=x': expected KEY=VALUE"),
        ("hello", {"goal": "@missing-goal.txt"}, "Cannot read goal file missing-goal.txt"),
    ],
)
def test_usage_errors(argument: str, options: dict[str, object], message: str) -> None:
    kwargs: dict[str, object] = {"goal": None, "var_options": [], "label_options": []} | options
    with pytest.raises(WorkflowSourceError, match="^" + message.replace(".", r"\.")):
        start_request(argument, **kwargs)  # type: ignore[arg-type]


def test_an_unsupported_file_and_a_parse_error(tmp_path: Path) -> None:
    other = tmp_path / "flow.txt"
    other.write_text("digraph G {}")
    with pytest.raises(WorkflowSourceError, match="Unsupported workflow file"):
        start_request(str(other), goal=None, var_options=[], label_options=[])
    broken = tmp_path / "broken.dot"
    broken.write_text("digraph G { a -> }")
    with pytest.raises(WorkflowSourceError, match=f"^Parse error: {broken}:1:"):
        start_request(str(broken), goal=None, var_options=[], label_options=[])
