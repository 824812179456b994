"""Property: on any text, parsing either succeeds or raises DotParseError with a position.

Whatever parses is validated, and validation only ever returns diagnostics (never raises).

FABRO_FUZZ_EXAMPLES (examples per test, default 300) raises the number of examples for a long
fuzz run: scripts/fuzz runs these tests at 100,000 each. The mutated texts start from the small
workflows of tests/fixtures/workflows/.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fabro.workflow.conditions import parse_condition
from fabro.workflow.diagnostics import Diagnostic
from fabro.workflow.errors import ConditionSyntaxError, DotParseError, StylesheetSyntaxError
from fabro.workflow.model import Graph
from fabro.workflow.prepare import prepare
from fabro.workflow.stylesheet import parse_stylesheet

EXAMPLES = int(os.environ.get("FABRO_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEED_DIR = Path(__file__).parents[1] / "fixtures" / "workflows"
SEEDS = [path.read_text(encoding="utf-8") for path in sorted(SEED_DIR.glob("*.dot"))]
FRAGMENTS = [
    "digraph",
    "subgraph",
    "graph",
    "node",
    "edge",
    "strict",
    "{",
    "}",
    "[",
    "]",
    "=",
    ",",
    ";",
    "->",
    "--",
    '"',
    '"x"',
    "\\",
    "\n",
    " ",
    "/*",
    "*/",
    "//",
    "a",
    "b.c",
    "1",
    "-1",
    ".5",
    "15m",
    "900s",
    "true",
    "gpt-5.2",
    ":",
    "@",
    "$goal",
    "é",
    "\t",
    "\ufeff",
]


def check_prepare(text: str) -> None:
    try:
        prepared = prepare(text)
    except DotParseError as exc:
        assert exc.line >= 1 and exc.col >= 1
        # The position lies inside the text (or just past its end).
        assert exc.line <= text.count("\n") + text.count("\r") + 1
        assert exc.col <= len(text) + 1
        assert exc.message
        assert str(exc).startswith(f"{exc.line}:{exc.col}: ")
        return
    # Whatever parsed validates without raising and survives a JSON round trip.
    assert Graph.from_json(prepared.graph.to_json()) == prepared.graph
    for diagnostic in prepared.diagnostics:
        assert isinstance(diagnostic, Diagnostic)
        assert diagnostic.message and diagnostic.severity in {"error", "warning", "info"}
        diagnostic.to_json()


@FUZZ
@given(st.text())
def test_random_text(text: str) -> None:
    check_prepare(text)


@FUZZ
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=60).map("".join))
def test_token_soup(text: str) -> None:
    check_prepare("digraph G {" + text + "}")


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        if not text:
            break
        i = draw(st.integers(0, len(text) - 1))
        action = draw(st.sampled_from(["delete", "insert", "replace", "cut"]))
        piece = draw(st.sampled_from(FRAGMENTS))
        if action == "delete":
            text = text[:i] + text[i + 1 :]
        elif action == "insert":
            text = text[:i] + piece + text[i:]
        elif action == "replace":
            text = text[:i] + piece + text[i + 1 :]
        else:
            text = text[:i]
    return text


def test_the_seeds_are_valid_workflows() -> None:
    assert len(SEEDS) >= 5
    for text in SEEDS:
        prepared = prepare(text)
        assert prepared.ok, [d.format() for d in prepared.errors]


@FUZZ
@given(mutated())
def test_mutated_corpus(text: str) -> None:
    check_prepare(text)


@FUZZ
@given(st.text(alphabet=st.sampled_from(list("ab =!<>&|contaismh.*[(0 \t")), max_size=40))
def test_conditions_never_raise_anything_else(text: str) -> None:
    try:
        parse_condition(text)
    except ConditionSyntaxError as exc:
        assert exc.col >= 1


@FUZZ
@given(st.text(alphabet=st.sampled_from(list("*#.ab-_{}:; \n")), max_size=40))
def test_stylesheets_never_raise_anything_else(text: str) -> None:
    try:
        parse_stylesheet(text)
    except StylesheetSyntaxError:
        pass
