"""The condition language (workflow-language.md §7)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from fabro.workflow.conditions import (
    And,
    Clause,
    Not,
    Or,
    condition_holds,
    evaluate,
    may_take_time,
    parse_condition,
    value_text,
)
from fabro.workflow.errors import ConditionSyntaxError


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("outcome=success", Clause("outcome", "=", "success")),
        ("  outcome = success  ", Clause("outcome", "=", "success")),
        ("a!=b", Clause("a", "!=", "b")),
        ("a>1", Clause("a", ">", "1")),
        ("a<1", Clause("a", "<", "1")),
        ("a>=1", Clause("a", ">=", "1")),
        ("a<=1", Clause("a", "<=", "1")),
        ("a contains x", Clause("a", "contains", "x")),
        ("flag", Clause("flag")),
        ("a=", Clause("a", "=", "")),
        ("a!=", Clause("a", "!=", "")),
        ("!flag", Not(Clause("flag"))),
        ("!!flag", Clause("flag")),
        ("!!!flag", Not(Clause("flag"))),
        ("a && b", And((Clause("a"), Clause("b")))),
        ("a || b && c", Or((Clause("a"), And((Clause("b"), Clause("c")))))),
        (
            "a=1 && b!=2 || !c",
            Or((And((Clause("a", "=", "1"), Clause("b", "!=", "2"))), Not(Clause("c")))),
        ),
        ("contains=x", Clause("contains", "=", "x")),
        ("a contains contains", Clause("a", "contains", "contains")),
        ("(a)=b", Clause("(a)", "=", "b")),
        ("a= && b", And((Clause("a", "=", ""), Clause("b")))),
    ],
)
def test_grammar(text: str, tree: object) -> None:
    assert parse_condition(text) == tree


def test_matches_compiles_pattern() -> None:
    condition = parse_condition("a matches ^x[0-9]+$")
    assert isinstance(condition, Clause) and condition.pattern is not None


@pytest.mark.parametrize(
    ("text", "message", "col"),
    [
        ("preferred_label=More fixes", 'unexpected token Word("fixes")', 22),
        ("a & b", "unexpected character '&' in condition expression", 3),
        ("a | b", "unexpected character '|' in condition expression", 3),
        ("a >", "unexpected end of condition expression", 4),
        ("a > && b", "unexpected token And", 5),
        ("&& a", "unexpected token And", 1),
        ("a &&", "unexpected end of condition expression", 5),
        ("= a", "unexpected token Eq", 1),
        ("!", "unexpected end of condition expression", 2),
        ("a matches [", "invalid regular expression '['", 11),
        ("a matches (x)\\1", "invalid regular expression '(x)\\1': backreferences", 11),
        ("a matches x*+y", "invalid regular expression 'x*+y': possessive quantifiers", 11),
        ("a matches \\bx", "invalid regular expression '\\bx': \\b is Unicode-aware", 11),
    ],
)
def test_syntax_errors(text: str, message: str, col: int) -> None:
    with pytest.raises(ConditionSyntaxError) as info:
        parse_condition(text)
    assert info.value.message.startswith(message)
    assert info.value.col == col


OUTCOME = {"outcome": "success", "preferred_label": "Approve"}
CONTEXT: dict[str, Any] = {
    "tests_passed": True,
    "count": 3,
    "ratio": 0.5,
    "empty": "",
    "zero": "0",
    "no": "false",
    "tags": ["a", "b", 1],
    "obj": {"k": "v"},
    "nothing": None,
    "context.shadow": "inner",
    "shadow": "outer",
    "plain": "x",
    "text": "hello world",
    "line": "ok\n",
    "digits": "\u0661\u0662",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("   ", True),
        ("outcome=success", True),
        ("outcome!=success", False),
        ("outcome=fail", False),
        ("preferred_label=Approve", True),
        ("context.plain=x", True),
        ("context.shadow=inner", True),
        ("shadow=outer", True),
        ("context.missing=", True),
        ("missing=", True),
        ("missing", False),
        ("tests_passed", True),
        ("tests_passed=true", True),
        ("empty", False),
        ("zero", False),
        ("no", False),
        ("plain", True),
        ("!plain", False),
        ("count=3", True),
        ("ratio=0.5", True),
        ("nothing=", True),
        ('obj={"k":"v"}', True),
        ("count>2", True),
        ("count>=3", True),
        ("count<3", False),
        ("count<=3.0", True),
        ("ratio<1e1", True),
        ("plain>1", False),
        ("count>abc", False),
        ("tags contains a", True),
        ("tags contains 1", True),
        ("tags contains c", False),
        ("text contains lo", True),
        ("text contains xyz", False),
        ("text matches ^hel+o", True),
        ("text matches world$", True),
        ("text matches ^world", False),
        ("line matches ^ok$", True),  # Python's `$`: also before a final newline
        ("line matches ^ok\\Z", False),
        ("digits matches ^\\d+$", True),  # Python's `\d`: Unicode digits
        ("digits matches (?a)^\\d+$", False),
        ("text matches (?i)HELLO", True),
        ("count matches ^3$", True),
        ("tags matches a.,.b", True),  # containers as compact JSON
        ("outcome=success && count=3", True),
        ("outcome=fail || count=3", True),
        ("outcome=fail || count=4", False),
        ("!outcome=fail && plain", True),
        ("bad & syntax", False),
    ],
)
def test_evaluation(text: str, expected: bool) -> None:
    assert condition_holds(text, OUTCOME, CONTEXT) is expected


def test_evaluate_with_parsed_condition() -> None:
    condition = parse_condition("outcome=retry")
    assert evaluate(condition, {"outcome": "retry"}, {}) is True
    assert evaluate(condition, {"outcome": "success"}, {}) is False


def test_preferred_label_defaults_to_empty() -> None:
    assert condition_holds("preferred_label=", {"outcome": "success"}, {}) is True


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("s", "s"),
        (True, "true"),
        (False, "false"),
        (42, "42"),
        (0.5, "0.5"),
        (None, ""),
        (["a", "b"], '["a","b"]'),
        ({"a": 1}, '{"a":1}'),
    ],
)
def test_value_text(raw: object, text: str) -> None:
    assert value_text(raw) == text


@pytest.mark.parametrize("pattern", ["a{99999999999999999999}", "(" * 2000 + ")" * 2000])
def test_pathological_patterns_are_syntax_errors(pattern: str) -> None:
    with pytest.raises(ConditionSyntaxError):
        parse_condition(f"a matches {pattern}")


def test_catastrophic_patterns_evaluate_in_linear_time() -> None:
    started = time.perf_counter()
    context = {"x": "a" * 27 + "!"}  # Python's `re` takes seconds on this
    assert condition_holds("context.x matches ^(a+)+$", OUTCOME, context) is False
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    ("text", "expected"),
    [("x matches y", True), ("a=1 || b matches ^c", True), ("outcome=success", False), ("", False)],
)
def test_may_take_time(text: str, expected: bool) -> None:
    assert may_take_time(text) is expected


def test_long_negation_chains_do_not_recurse() -> None:
    assert parse_condition("!" * 100_000 + "flag") == Clause("flag")
