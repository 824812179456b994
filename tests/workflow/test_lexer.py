"""Lexical rules (workflow-language.md §2)."""

from __future__ import annotations

import pytest

from fabro.workflow.lexer import tokenize


def kinds(text: str) -> list[tuple[str, str]]:
    return [(t.kind, t.text) for t in tokenize(text)]


def value_of(text: str) -> tuple[str, str]:
    """The (value kind, text) of the value after `x=`."""
    tokens = tokenize(f"x={text}")
    assert tokens[1].kind == "=", tokens
    return tokens[2].vkind, tokens[2].text


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a // comment\nb", [("ident", "a"), ("ident", "b"), ("eof", "")]),
        ("a /* block\n comment */ b", [("ident", "a"), ("ident", "b"), ("eof", "")]),
        ("a /* unterminated", [("ident", "a"), ("eof", "")]),
        ("a/**/b", [("ident", "a"), ("ident", "b"), ("eof", "")]),
        ("a\t\r\n b", [("ident", "a"), ("ident", "b"), ("eof", "")]),
        ("a -> b", [("ident", "a"), ("->", "->"), ("ident", "b"), ("eof", "")]),
        (
            "{ } [ ] , ;",
            [("{", "{"), ("}", "}"), ("[", "["), ("]", "]"), (",", ","), (";", ";"), ("eof", "")],
        ),
        (
            "[human.default_choice=x]",
            [
                ("[", "["),
                ("key", "human.default_choice"),
                ("=", "="),
                ("value", "x"),
                ("]", "]"),
                ("eof", ""),
            ],
        ),
        ("_a1 B_2", [("ident", "_a1"), ("ident", "B_2"), ("eof", "")]),
    ],
    ids=[
        "line-comment",
        "block-comment",
        "unterminated-block",
        "empty-block",
        "whitespace",
        "arrow",
        "punctuation",
        "key-in-brackets",
        "idents",
    ],
)
def test_tokens(source: str, expected: list[tuple[str, str]]) -> None:
    assert kinds(source) == expected


@pytest.mark.parametrize(
    ("source", "kind", "text"),
    [
        ('"Run tests"', "string", "Run tests"),
        ('"multi\nline"', "string", "multi\nline"),
        ('"a // not a comment"', "string", "a // not a comment"),
        ('"/* nor this */"', "string", "/* nor this */"),
        ("900s", "duration", "900s"),
        ("15m", "duration", "15m"),
        ("250ms", "duration", "250ms"),
        ("2h", "duration", "2h"),
        ("1d", "duration", "1d"),
        ("-5s", "duration", "-5s"),
        ("0.5", "float", "0.5"),
        (".5", "float", ".5"),
        ("-1.25", "float", "-1.25"),
        ("3", "int", "3"),
        ("-1", "int", "-1"),
        ("true", "bool", "true"),
        ("false", "bool", "false"),
        ("gpt-5.2", "bare", "gpt-5.2"),
        ("claude-sonnet-4-5", "bare", "claude-sonnet-4-5"),
        ("a.b", "bare", "a.b"),
        ("LR", "ident", "LR"),
        ("Mdiamond", "ident", "Mdiamond"),
        ("True", "ident", "True"),
    ],
)
def test_value_kinds(source: str, kind: str, text: str) -> None:
    assert value_of(source) == (kind, text)


@pytest.mark.parametrize(
    ("source", "decoded"),
    [
        (r'"say \"hi\""', 'say "hi"'),
        (r'"a\nb"', "a\nb"),
        (r'"a\tb"', "a\tb"),
        (r'"a\\b"', "a\\b"),
        (r'"a\qb"', "a\\qb"),
        ('"a\\\nb"', "a\\\nb"),
    ],
    ids=["quote", "newline", "tab", "backslash", "unknown-kept", "backslash-newline-kept"],
)
def test_string_escapes(source: str, decoded: str) -> None:
    assert value_of(source) == ("string", decoded)


def test_duration_needs_a_word_boundary() -> None:
    # `10sx` is not a duration: the int 10 is followed by the ident `sx`.
    tokens = tokenize("x=10sx")
    assert [(t.kind, t.vkind, t.text) for t in tokens[2:4]] == [
        ("value", "int", "10"),
        ("ident", "", "sx"),
    ]


def test_int_followed_by_dot_is_not_an_int() -> None:
    tokens = tokenize("x=12.")
    assert tokens[-1].kind == "error"
    assert tokens[-1].text == "unexpected character '1'"


def test_every_token_has_line_and_column() -> None:
    tokens = tokenize('digraph G {\n  a [label="x\ny"]\n  b\n}')
    positions = [(t.text, t.line, t.col) for t in tokens]
    assert positions == [
        ("digraph", 1, 1),
        ("G", 1, 9),
        ("{", 1, 11),
        ("a", 2, 3),
        ("[", 2, 5),
        ("label", 2, 6),
        ("=", 2, 11),
        ("x\ny", 2, 12),
        ("]", 3, 3),
        ("b", 4, 3),
        ("}", 5, 1),
        ("", 5, 2),
    ]


def test_columns_count_code_points() -> None:
    tokens = tokenize('a [label="héllo → ✓"] b')
    assert (tokens[-2].text, tokens[-2].col) == ("b", 23)


def test_block_comment_newlines_count() -> None:
    tokens = tokenize("/* one\ntwo\nthree */ a")
    assert (tokens[0].line, tokens[0].col) == (3, 10)


@pytest.mark.parametrize(
    ("source", "message", "line", "col"),
    [
        ("a : b", "unexpected character ':'", 1, 3),
        ('a\n  "quoted"', "unexpected character '\"'", 2, 3),
        ("1abc", "unexpected character '1'", 1, 1),
        ('x="never closed', "unterminated string", 1, 3),
        ('x="ends in backslash\\', "unterminated string", 1, 3),
        ("a + b", "unexpected character '+'", 1, 3),
    ],
)
def test_lexical_errors_become_error_tokens(source: str, message: str, line: int, col: int) -> None:
    last = tokenize(source)[-1]
    assert (last.kind, last.text, last.line, last.col) == ("error", message, line, col)


def test_dotted_names_are_keys_only_inside_brackets() -> None:
    assert tokenize("a.b")[1].text == "unexpected character '.'"
