"""The validator reaches the verdicts of shared/corpus/expected.toml on all corpus files."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from fabro.workflow.prepare import Prepared, prepare, read_source
from fabro.workflow.source import resolve_workflow
from fabro.workflow.validate import FABRO_RULES
from tests.shared_dir import CORPUS, PRESENT, needs_shared

pytestmark = needs_shared
EXPECTED: list[dict[str, Any]] = (
    tomllib.loads((CORPUS / "expected.toml").read_text(encoding="utf-8"))["file"]
    if PRESENT
    else []  # the module's tests are deselected
)
# Verdicts we believe are wrong, with the reason (none so far): path -> reason.
DISPUTED: dict[str, str] = {}
# The verdicts follow the spec's rules; fabro's added rules (none of which is an error on a
# corpus file) only add warnings, which are compared apart (test_added_rules_only_warn).
ADDED = frozenset(rule.__name__ for rule in FABRO_RULES)


def test_corpus_is_present() -> None:
    assert EXPECTED, f"expected.toml not found under {CORPUS.resolve()}"
    assert len(EXPECTED) == 62


def test_every_corpus_file_has_one_definite_verdict() -> None:
    """The table covers each .dot file once, and every verdict can be checked: "unsure"
    (which expected.toml allows) would make test_corpus_verdict assert nothing, so none is."""
    on_disk = sorted(str(p.relative_to(CORPUS)) for p in (CORPUS / "original").rglob("*.dot"))
    assert sorted(entry["path"] for entry in EXPECTED) == on_disk
    verdicts = [entry["verdict"] for entry in EXPECTED]
    assert (verdicts.count("valid"), verdicts.count("invalid")) == (53, 9)
    for entry in EXPECTED:
        invalid = entry["verdict"] == "invalid"
        assert bool(entry["errors"]) == invalid, entry["path"]
        if not invalid:
            assert entry["error_nodes"] == [], entry["path"]


def _prepare_file(path: Path) -> Prepared:
    return prepare(read_source(path), path=path)


def _verdict(prepared: Prepared, expected: dict[str, Any], prefix: str = "") -> None:
    order = list(prepared.graph.nodes)
    errors = sorted({d.rule for d in prepared.errors})
    warnings = sorted({d.rule for d in prepared.warnings} - ADDED)
    error_nodes = sorted({d.node_id for d in prepared.errors if d.node_id}, key=order.index)
    verdict = "valid" if prepared.ok else "invalid"
    assert verdict == expected[f"{prefix}verdict"], [d.format() for d in prepared.diagnostics]
    assert errors == sorted(expected.get(f"{prefix}errors", [])), prepared.errors
    if not prefix:
        assert error_nodes == expected["error_nodes"]
        assert warnings == sorted(expected["warnings"]), prepared.warnings


def _params() -> list[Any]:
    params = []
    for entry in EXPECTED:
        marks = []
        if entry["path"] in DISPUTED:
            marks.append(pytest.mark.xfail(strict=True, reason=DISPUTED[entry["path"]]))
        params.append(
            pytest.param(entry, id=entry["path"].removeprefix("original/test/"), marks=marks)
        )
    return params


@pytest.mark.parametrize("entry", _params())
def test_corpus_verdict(entry: dict[str, Any]) -> None:
    path = CORPUS / entry["path"]
    if "run_config" in entry:
        source = resolve_workflow(str(path.parent / entry["run_config"]))
        assert source.path.resolve() == path.resolve()
        prepared = prepare(source.text, path=source.path, goal=source.goal, vars=source.vars)
        _verdict(prepared, entry)
        _verdict(_prepare_file(path), entry, prefix="standalone_")
    else:
        _verdict(_prepare_file(path), entry)


def test_added_rules_only_warn_on_the_corpus() -> None:
    """fabro's added rules turn no verdict: on the corpus they only ever warn."""
    added_errors = []
    for entry in EXPECTED:
        prepared = _prepare_file(CORPUS / entry["path"])
        added_errors += [d.format() for d in prepared.errors if d.rule in ADDED]
    assert added_errors == []
