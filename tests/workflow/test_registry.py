"""The workflows registry (api.md §7): folder scanning and workflow.toml validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from fabro.workflow.registry import (
    WorkflowConfigError,
    find_workflow,
    list_workflows,
    read_workflow,
)

DOT = 'digraph Fix {\n  graph [label="Fix it", goal="Make CI green"]\n  start [shape=Mdiamond]\n}\n'


def add(root: Path, slug: str, files: dict[str, str]) -> Path:
    folder = root / slug
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_lists_workflow_folders_sorted_by_slug_and_skips_the_rest(tmp_path: Path) -> None:
    add(tmp_path, "zeta", {"workflow.dot": DOT})
    add(tmp_path, "Alpha", {"workflow.fabro": DOT})
    add(tmp_path, "beta_1-x", {"workflow.dot": DOT, "workflow.fabro": "ignored"})
    add(tmp_path, "no_dot", {"README.md": "not a workflow"})
    add(tmp_path, "bad.name", {"workflow.dot": DOT})
    (tmp_path / "loose.dot").write_text(DOT, encoding="utf-8")
    found = list_workflows(tmp_path)
    assert [w.slug for w in found] == ["Alpha", "beta_1-x", "zeta"]
    assert [w.filename for w in found] == ["workflow.fabro", "workflow.dot", "workflow.dot"]
    beta = found[1]
    assert beta.folder == tmp_path / "beta_1-x"
    assert beta.dot_path == tmp_path / "beta_1-x" / "workflow.dot"
    assert beta.text == DOT and beta.config == {} and beta.config_error is None


def test_a_missing_registry_folder_is_empty(tmp_path: Path) -> None:
    assert list_workflows(tmp_path / "absent") == []
    assert find_workflow(tmp_path / "absent", "x") is None


@pytest.mark.parametrize("slug", ["missing", "..", "a/b", "", "no_dot"])
def test_find_returns_none_for_unknown_or_invalid_slugs(tmp_path: Path, slug: str) -> None:
    add(tmp_path, "no_dot", {"workflow.toml": 'name = "x"'})
    assert find_workflow(tmp_path, slug) is None


def test_find_reads_and_validates_workflow_toml(tmp_path: Path) -> None:
    add(
        tmp_path,
        "fix",
        {
            "workflow.dot": DOT,
            "workflow.toml": 'version = 1\nname = "Fix the build"\ndescription = "CI"\n'
            'goal = "@goal.md"\ndirectory = "src"\nschedule = "daily"\n'
            '[llm]\nmodel = "gpt-5.2"\n[vars]\nrepo = "api"\n[labels]\nteam = "web"\n',
        },
    )
    found = find_workflow(tmp_path, "fix")
    assert found is not None
    assert found.config == {
        "version": 1,
        "name": "Fix the build",
        "description": "CI",
        "goal": "@goal.md",
        "directory": "src",
        "llm": {"model": "gpt-5.2"},
        "vars": {"repo": "api"},
        "labels": {"team": "web"},
    }


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        ("name = 3", "'name' must be a string"),
        ("goal = true", "'goal' must be a string"),
        ("description = []", "'description' must be a string"),
        ("directory = 1", "'directory' must be a string"),
        ("version = 2", "'version' must be 1"),
        ('llm = "x"', "[llm] must be a table"),
        ("[llm]\nmodel = 5", "'llm.model' must be a string"),
        ("[llm]\nprovider = false", "'llm.provider' must be a string"),
        ('vars = "x"', "[vars] must be a table"),
        ("[vars]\nn = 1", "'vars.n' must be a string"),
        ("[labels]\nteam = { a = 1 }", "'labels.team' must be a string"),
        ("name = ", "Invalid value"),
    ],
)
def test_invalid_workflow_toml_is_a_clear_error(tmp_path: Path, toml: str, problem: str) -> None:
    add(tmp_path, "bad", {"workflow.dot": DOT, "workflow.toml": toml})
    with pytest.raises(WorkflowConfigError) as raised:
        find_workflow(tmp_path, "bad")
    detail = raised.value.detail
    assert detail.startswith(
        f"Invalid workflow configuration {tmp_path / 'bad' / 'workflow.toml'}: "
    )
    assert problem in detail and detail.endswith(".")
    assert raised.value.status == 400
    # Listing and reading still show the workflow, with the problem recorded.
    listed = read_workflow(tmp_path, "bad")
    assert listed is not None and listed.config == {} and listed.config_error == detail
    assert [w.slug for w in list_workflows(tmp_path)] == ["bad"]


@pytest.mark.parametrize(
    ("toml", "dot", "name", "description"),
    [
        ('name = "Named"\ndescription = "Desc"', DOT, "Named", "Desc"),
        ("", DOT, "Fix it", "Make CI green"),
        ("", "digraph Plain { start [shape=Mdiamond] }", "Plain", ""),
        ("", "digraph { start [shape=Mdiamond] }", "wf", ""),
        ("", "digraph Broken {\n  a -> \n}", "wf", ""),
        ('name = "Still named"', "not dot at all", "Still named", ""),
    ],
)
def test_name_and_description_resolution(
    tmp_path: Path, toml: str, dot: str, name: str, description: str
) -> None:
    add(tmp_path, "wf", {"workflow.dot": dot, "workflow.toml": toml})
    found = find_workflow(tmp_path, "wf")
    assert found is not None
    graph = found.graph()
    assert found.display_name(graph) == name
    assert found.description(graph) == description
