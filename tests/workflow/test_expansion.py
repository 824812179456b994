"""Goal override (§9.1), variables (§9.2) and @file references (§10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fabro.workflow.prepare import prepare
from fabro.workflow.variables import expand_script, expand_text

from .helpers import flow, rules_of


@pytest.mark.parametrize(
    ("text", "expected", "undefined"),
    [
        ("Fix $repo now", "Fix web now", []),
        ("$repo$repo", "webweb", []),
        ("cost $$5 and $$repo", "cost $5 and $repo", []),
        ("$ alone, $1, ${repo}", "$ alone, $1, ${repo}", []),
        ("$missing and $repo", "$missing and web", ["missing"]),
        ("$repo_name", "$repo_name", ["repo_name"]),
        ("$repo.", "web.", []),
    ],
)
def test_expand_text(text: str, expected: str, undefined: list[str]) -> None:
    found: list[str] = []
    assert expand_text(text, {"repo": "web"}, found) == expected
    assert found == undefined


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("git clone $repo", "git clone web"),
        ("echo $HOME $$ $$repo", "echo $HOME $$ $$repo"),
    ],
)
def test_expand_script(text: str, expected: str) -> None:
    assert expand_script(text, {"repo": "web"}) == expected


def test_expansion_in_goal_prompt_label_and_script() -> None:
    text = flow(
        'a [label="Step for $who", prompt="Do $goal for $who"]\n'
        'c [shape=parallelogram, script="echo $who $unknown"]\n'
        'd [shape=parallelogram, tool_command="echo $goal"]\n'
        'e [condition_like="$who", llm_prompt="$who"]\n'
        "start -> a -> c -> d -> e -> exit",
        'goal="Ship $who, keep $goal"',
    )
    prepared = prepare(text, vars={"who": "team"})
    graph = prepared.graph
    assert graph.goal == "Ship team, keep $goal"
    assert graph.nodes["a"].label == "Step for team"
    assert graph.nodes["a"].prompt == "Do Ship team, keep $goal for team"
    assert graph.nodes["c"].script == "echo team $unknown"
    assert graph.nodes["d"].script == "echo 'Ship team, keep $goal'"  # one word for the shell
    assert graph.nodes["e"].get("llm_prompt") == "$who"  # other attributes are not expanded
    assert prepared.ok, prepared.diagnostics


def test_goal_override_replaces_graph_goal_before_expansion() -> None:
    text = flow('a [prompt="Goal: $goal"]\nstart -> a -> exit', 'goal="old"')
    graph = prepare(text, goal="new for $who", vars={"who": "x"}).graph
    assert graph.goal == "new for x"
    assert graph.nodes["a"].prompt == "Goal: new for x"


def test_undefined_variables_are_reported() -> None:
    text = flow('a [label="$l", prompt="$p $p"]\nstart -> a -> exit', 'goal="$g"')
    found = rules_of(prepare(text).diagnostics, "undefined_variable")
    assert [(d.node_id, d.message) for d in found] == [
        (None, "Graph goal uses undefined variable $g"),
        ("a", "Node 'a' prompt uses undefined variable $p"),
        ("a", "Node 'a' label uses undefined variable $l"),
    ]


def test_file_references(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "plan.md").write_text("Plan for $who", encoding="utf-8")
    (tmp_path / "goal.txt").write_text("\ufeffThe goal", encoding="utf-8")
    dot = tmp_path / "flow.dot"
    text = flow(
        'a [prompt="@prompts/plan.md"]\nb [prompt="@missing.md"]\nc [prompt="not @file"]\n'
        "start -> a -> b -> c -> exit",
        'goal="@goal.txt"',
    )
    prepared = prepare(text, path=dot, vars={"who": "me"})
    graph = prepared.graph
    assert graph.goal == "The goal"
    assert graph.nodes["a"].prompt == "Plan for me"
    assert graph.nodes["b"].prompt == "@missing.md"
    assert graph.nodes["c"].prompt == "not @file"
    assert [(d.rule, d.node_id) for d in prepared.errors] == [("unresolved_file_ref", "b")]


def test_goal_override_is_text_and_config_goal_may_be_a_file(tmp_path: Path) -> None:
    (tmp_path / "g.md").write_text("From file", encoding="utf-8")
    text = flow("start -> exit")
    dot = tmp_path / "f.dot"
    overridden = prepare(text, path=dot, goal="@g.md")
    assert overridden.graph.goal == "@g.md"
    assert [d.rule for d in overridden.errors] == ["unresolved_file_ref"]
    assert prepare(text, path=dot, config_goal="@g.md").graph.goal == "From file"
    assert prepare(text, path=dot, config_goal="@g.md", goal="Mine").graph.goal == "Mine"


def test_file_references_stay_inside_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "outside.md").write_text("outside", encoding="utf-8")
    folder = tmp_path / "flow"
    (folder / "sub").mkdir(parents=True)
    (folder / "inside.md").write_text("inside", encoding="utf-8")
    (folder / "link.md").symlink_to(tmp_path / "outside.md")
    (folder / "inner_link.md").symlink_to(folder / "inside.md")
    refused = ["@~/outside.md", f"@{tmp_path / 'outside.md'}", "@../outside.md", "@link.md"]
    allowed = ["@inside.md", "@sub/../inside.md", "@inner_link.md", f"@ {'inside.md'}"]
    nodes = "\n".join(
        f'n{i} [prompt="{ref}"]\nstart -> n{i} -> exit' for i, ref in enumerate(refused + allowed)
    )
    graph = prepare(flow(nodes), path=folder / "f.dot").graph
    prompts = [graph.nodes[f"n{i}"].prompt for i in range(len(refused + allowed))]
    assert prompts == refused + ["inside"] * len(allowed)


def test_sources_without_files_skip_inlining(tmp_path: Path) -> None:
    (tmp_path / "p.md").write_text("x", encoding="utf-8")
    text = flow('a [prompt="@p.md"]\nstart -> a -> exit')
    for prepared in (prepare(text), prepare(text, path=tmp_path / "f.dot", resolve_files=False)):
        assert [d.rule for d in prepared.errors] == ["unresolved_file_ref"]


def test_bom_is_dropped() -> None:
    assert prepare("\ufeff" + flow("start -> exit")).ok
