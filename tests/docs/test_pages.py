"""The documentation pages say what the code does: every setting, every example, every page.

`scripts/docs` builds the site strictly (links and anchors); these tests keep the pages in step
with the code they describe, and run with the rest of the suite.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fabro.config import FILE_ONLY, OPTIONS
from fabro.workflow.prepare import prepare

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
NAV = [
    "index.md",
    "workflows.md",
    "api.md",
    "ui.md",
    "client.md",
    "client-reference.md",
    "configuration.md",
    "cli.md",
    "security.md",
    "governance.md",
    "secrets.md",
    "webhooks.md",
    "operations.md",
    "architecture.md",
    "benchmarks.md",
]


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("key", [o.key for o in OPTIONS if o.key] + sorted(FILE_ONLY))
def test_every_server_toml_key_is_documented(key: str) -> None:
    assert f"`{key}`" in page("configuration.md"), f"docs/configuration.md does not cover {key}"


@pytest.mark.parametrize("variable", sorted({o.env for o in OPTIONS if o.env}))
def test_every_environment_variable_is_documented(variable: str) -> None:
    assert variable in page("configuration.md"), f"docs/configuration.md lacks {variable}"


def test_the_nav_lists_every_page_in_order() -> None:
    config = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    nav = re.findall(r"^  - [^:]+: (\S+\.md)$", config, re.M)
    assert nav == NAV
    assert sorted(path.name for path in DOCS.glob("*.md")) == sorted(NAV)


@pytest.mark.parametrize("example", sorted(p.name for p in (REPO / "examples").glob("*.dot")))
def test_every_example_is_in_the_workflow_language_page(example: str) -> None:
    assert f"`{example}`" in page("workflows.md")


def test_the_readme_links_the_docs() -> None:
    assert "docs/index.md" in (REPO / "README.md").read_text(encoding="utf-8")


def _whole_workflows() -> list[tuple[str, str]]:
    found = []
    for path in sorted(DOCS.glob("*.md")):
        for block in re.findall(r"```dot\n(.*?)```", path.read_text(encoding="utf-8"), re.S):
            if block.lstrip().startswith("digraph"):
                found.append((path.name, block))
    return found


@pytest.mark.parametrize(("page_name", "dot"), _whole_workflows())
def test_whole_workflows_in_the_docs_validate_cleanly(page_name: str, dot: str) -> None:
    prepared = prepare(dot)
    assert [d.format() for d in prepared.diagnostics] == [], page_name


def test_every_module_the_architecture_page_names_exists() -> None:
    """docs/architecture.md is a map of the code: a path it names that no longer exists (a
    module renamed or split) fails here. A bare name is looked for anywhere in the tree."""
    names = set(re.findall(r"`([\w/]+\.py)`", page("architecture.md")))
    assert len(names) > 20
    for name in sorted(names):
        found = [
            path
            for base in (REPO, REPO / "fabro")
            for path in ([base / name] if "/" in name else base.rglob(name))
            if path.is_file()
        ]
        assert found, f"docs/architecture.md names {name}, which is not in the repository"
