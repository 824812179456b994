"""`matches` patterns: Python `re` meaning, RE2's linear time (workflow-language.md §7).

Python's own `re` is the oracle: every accepted pattern must give its answer on every subject.
The reference search tries `re.match` at each position, because `re.search` itself skips
positions wrongly when a scoped flag changes a class (`re.search(r"(?a:[^\\s])", "\\u2003")`
finds nothing while `re.match` matches).
"""

from __future__ import annotations

import os
import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fabro.workflow.prepare import prepare
from fabro.workflow.regex import (
    MAX_POSITIONS,
    MAX_SUBJECT_CHARS,
    UnsupportedPattern,
    compile_pattern,
)

from .helpers import linear, rules_of

EXAMPLES = int(os.environ.get("FABRO_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Characters where RE2's and Python's defaults differ: non-ASCII digits, letters and spaces,
# the letters whose case folding differs, newlines.
TRICKY = (
    "aAbB01_ \n\t.-\u00e9\u00c9\u00df\u1e9e\u017fsSkK\u212a\u0131\u0130iI"
    "\u0663\u2003\u03c3\u03c2\u03a3\x85\x0b\x1c\ufffd\U0001f600"
)


def python_says(pattern: str, subject: str) -> bool:
    compiled = re.compile(pattern)
    return any(compiled.match(subject, pos) for pos in range(len(subject) + 1))


@pytest.mark.parametrize(
    ("pattern", "subject"),
    [
        # The spec's own examples and the usual shapes of conditions.
        ("^hel+o", "hello world"),
        ("world$", "hello world"),
        ("^world", "hello world"),
        ("^x[0-9]+$", "x123"),
        ("^(ok|done)$", "done"),
        ("(?i)error|fail(ed|ure)?", "Build FAILED"),
        # `$` also matches before a final newline (RE2's does not); `\Z` does not.
        ("^ok$", "ok\n"),
        ("^ok$", "ok\n\n"),
        ("^ok\\Z", "ok\n"),
        ("(?s)ok.$", "ok\n"),
        ("(?m)^ok$", "a\nok\nb"),
        ("(?m)^ok$", "a\nok!\nb"),
        # Unicode classes, as Python reads them.
        (r"\d", "\u0663"),  # ARABIC-INDIC DIGIT THREE
        (r"(?a)\d", "\u0663"),
        (r"\w+\d", "caf\u00e9\u0663"),
        (r"^\w+$", "\u00e9t\u00e9"),
        (r"\s", "\u2003"),
        (r"\s", "\x1c"),
        (r"(?a)\s", "\x1c"),
        (r"[^\W\d_]", "\u00e9"),
        (r"\W", "\u00e9"),
        # Case folding, as Python's IGNORECASE does it.
        ("(?i)k", "\u212a"),  # KELVIN SIGN
        ("(?i)s", "\u017f"),  # LATIN SMALL LETTER LONG S
        ("(?i)i", "\u0130"),  # LATIN CAPITAL LETTER I WITH DOT ABOVE
        ("(?i)i", "\u0131"),  # LATIN SMALL LETTER DOTLESS I
        ("(?i)\u00df", "\u1e9e"),  # sharp s and capital sharp s
        ("(?i)stra\u00dfe", "STRASSE"),
        ("(?i)[a-z]+", "\u212a"),
        ("(?ia)k", "\u212a"),
        ("(?i)[^k]", "K"),
        ("(?i:\u03a3)", "\u03c2"),
        # Dots, scoped flags, verbose patterns, repeats.
        ("a.c", "a\nc"),
        ("(?s)a.c", "a\nc"),
        ("(?s:a.c)", "a\nc"),
        ("(?i:A)b", "aB"),
        ("(?x) a b  # comment", "ab"),
        ("a{2,3}?b", "aab"),
        ("(?a:\\b)cat(?a:\\b)", "a cat!"),
        ("(?a:\\b)cat(?a:\\b)", "concat"),
        ("", ""),
    ],
)
def test_same_answer_as_python(pattern: str, subject: str) -> None:
    assert compile_pattern(pattern).search(subject) is python_says(pattern, subject)


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(a)\1", "backreferences are not supported"),
        (r"(?P<x>a)(?P=x)", "backreferences are not supported"),
        (r"(a)?(?(1)b|c)", "conditional groups"),
        (r"a(?=b)", "lookahead and lookbehind are not supported"),
        (r"(?<!a)b", "lookahead and lookbehind are not supported"),
        (r"(?>a+)b", "atomic groups"),
        (r"a*+b", "possessive quantifiers"),
        (r"\bword\b", "write (?a:\\b) for an ASCII word boundary"),
        (r"\B", "\\B is not supported"),
        (r"a$b", "'$' is supported only at the end of the pattern"),
        (r"(a$)+", "'$' is supported only at the end of the pattern"),
        (r"\w{200}", "RE2 cannot compile it (pattern too large"),
        (r"(?:[ab]{100}){20}", "too complex: 2000 character positions with repeats expanded"),
        (r"a{1001}", f"(limit {MAX_POSITIONS})"),
    ],
)
def test_what_re2_cannot_do_alike_is_refused(pattern: str, reason: str) -> None:
    re.compile(pattern)  # a valid Python pattern...
    with pytest.raises(UnsupportedPattern) as info:
        compile_pattern(pattern)  # ...that RE2 cannot match with the same meaning
    assert reason in str(info.value)


def test_python_syntax_errors_stay_python_errors() -> None:
    with pytest.raises(re.error, match="unterminated character set"):
        compile_pattern("[")


def test_catastrophic_backtracking_takes_linear_time() -> None:
    pattern = compile_pattern("^(a+)+$")  # Python's `re`: 2**n steps; 27 `a` take seconds
    started = time.perf_counter()
    assert pattern.search("a" * 27 + "!") is False
    assert pattern.search("a" * (MAX_SUBJECT_CHARS - 1) + "!") is False
    assert pattern.search("a" * 1000) is True
    assert time.perf_counter() - started < 1.0


def test_a_value_is_searched_in_its_first_max_subject_chars() -> None:
    pattern = compile_pattern("b")
    assert pattern.search("a" * (MAX_SUBJECT_CHARS - 1) + "b") is True
    assert pattern.search("a" * MAX_SUBJECT_CHARS + "b") is False


def test_lone_surrogates_in_a_subject_read_as_replacement_characters() -> None:
    assert compile_pattern("^a.b$").search("a\ud800b") is True
    assert compile_pattern("\ufffd").search("\udfff") is True


def test_a_condition_re2_cannot_match_alike_fails_validation() -> None:
    source = linear(extra_edges='work -> exit [condition="context.x matches (a)\\\\1"]')
    errors = rules_of(prepare(source).errors, "condition_syntax")
    assert [(d.edge, d.message) for d in errors] == [
        (
            ("work", "exit"),
            "Condition 'context.x matches (a)\\1' on edge work -> exit failed parse: "
            "invalid regular expression '(a)\\1': backreferences are not supported "
            "(conditions use RE2)",
        )
    ]


def test_patterns_compare_by_source() -> None:
    assert compile_pattern("a+") == compile_pattern("a+")
    assert compile_pattern("a+") != compile_pattern("a*")


# A small grammar of patterns over the tricky characters, with every construct the
# translation handles: classes, categories, anchors, scoped and global flags, repeats.
_CHAR = st.sampled_from(TRICKY).map(lambda c: r"\n" if c == "\n" else re.escape(c))
_RANGE = st.tuples(st.sampled_from("aAkK0s\u00e9"), st.sampled_from("zZmM9S\u00ff")).map(
    lambda pair: "-".join(sorted(pair))
)
_CATEGORY = st.sampled_from([r"\d", r"\D", r"\w", r"\W", r"\s", r"\S"])
_CLASS = st.builds(
    lambda negate, items: "[" + ("^" if negate else "") + "".join(items) + "]",
    st.booleans(),
    st.lists(
        st.one_of(_CHAR.map(lambda c: c.replace("-", r"\-")), _RANGE, _CATEGORY),
        min_size=1,
        max_size=3,
    ),
)
_ANCHOR = st.sampled_from(["^", r"\A", r"\Z", r"(?a:\b)"])
_QUANTIFIER = st.sampled_from(["", "", "", "*", "+", "?", "{1,2}", "*?", "{2}"])


def _patterns() -> st.SearchStrategy[str]:
    atom = st.one_of(_CHAR, _CLASS, _CATEGORY, st.just("."))
    sequence = st.lists(st.tuples(atom, _QUANTIFIER).map("".join), min_size=1, max_size=4)
    expression = st.recursive(
        sequence.map("".join),
        lambda inner: st.one_of(
            st.tuples(inner, inner).map(lambda pair: f"(?:{pair[0]}|{pair[1]})"),
            st.tuples(st.sampled_from(["i", "s", "m", "a", "-i", "x"]), inner).map(
                lambda pair: f"(?{pair[0]}:{pair[1]})"
            ),
            st.tuples(inner, _QUANTIFIER).map(lambda pair: f"({pair[0]}){pair[1]}"),
            st.tuples(_ANCHOR, inner).map("".join),
            st.tuples(inner, inner).map("".join),
        ),
        max_leaves=6,
    )
    flags = st.sampled_from(["", "", "(?i)", "(?m)", "(?s)", "(?a)", "(?ia)", "(?is)"])
    ending = st.sampled_from(["", "", "$"])
    return st.tuples(flags, expression, ending).map("".join)


@FUZZ
@given(_patterns(), st.lists(st.text(TRICKY, max_size=8), min_size=1, max_size=8))
def test_every_accepted_pattern_answers_as_python_does(pattern: str, subjects: list[str]) -> None:
    try:
        compiled = compile_pattern(pattern)
    except (re.error, UnsupportedPattern):
        return
    for subject in subjects:
        assert compiled.search(subject) is python_says(pattern, subject), (pattern, subject)
