"""The DOT lexer (workflow-language.md §2): a hand-written scanner with two modes.

After `=` the scanner is in *value position* and reads one VALUE (string, duration, float, int,
bool, bare or ident); everywhere else it reads IDENT, KEY (dotted names, only inside `[...]`),
`->` and the punctuation `{ } [ ] = , ;`. Every token records the 1-based line and column of its
first character (columns count code points, which is what Python string indexes count).

A lexical error does not raise at once: it becomes a final ERROR token, so the parser still
reports the first problem in source order (a grammar error before the bad character wins).
"""

from __future__ import annotations

import re
from typing import Final

# Token kinds. Plain strings keep the hot loop cheap and the parser's messages readable.
IDENT: Final = "ident"
KEY: Final = "key"
VALUE: Final = "value"
ARROW: Final = "->"
LBRACE: Final = "{"
RBRACE: Final = "}"
LBRACKET: Final = "["
RBRACKET: Final = "]"
EQUALS: Final = "="
COMMA: Final = ","
SEMI: Final = ";"
EOF: Final = "eof"
ERROR: Final = "error"

# Value kinds (workflow-language.md §2, VALUE alternatives).
STRING: Final = "string"
DURATION: Final = "duration"
FLOAT: Final = "float"
INT: Final = "int"
BOOL: Final = "bool"
BARE: Final = "bare"
IDENT_VALUE: Final = "ident"
VALUE_KINDS: Final = (STRING, DURATION, FLOAT, INT, BOOL, BARE, IDENT_VALUE)

_PUNCT: Final = {"{": LBRACE, "}": RBRACE, "[": LBRACKET, "]": RBRACKET, ",": COMMA, ";": SEMI}
_IDENT_START: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NUMBER_START: Final = frozenset("0123456789-.")

# Each pattern is anchored at the scan position with `match`; possessive quantifiers stop the
# engine from backtracking into a digit run (so `12.` is not read as the int `1`).
# Whitespace and comments; an unterminated block comment runs to the end of input.
_SKIP = re.compile(r"(?:[ \t\r\n]++|//[^\n]*+|/\*(?s:.*?)(?:\*/|\Z))++")
_SKIP_START: Final = frozenset(" \t\r\n/")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*+")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*+(?:\.[A-Za-z_][A-Za-z0-9_]*+)*+")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*+")
_DURATION = re.compile(r"-?[0-9]++(?:ms|s|m|h|d)(?![A-Za-z0-9])")
_FLOAT = re.compile(r"-?[0-9]*+\.[0-9]++")
_INT = re.compile(r"-?[0-9]++(?!\.)")
_STRING_RUN = re.compile(r'[^"\\]*+')
_ESCAPES: Final = {'"': '"', "n": "\n", "t": "\t", "\\": "\\"}


class Token:
    """One token: its kind, its text (decoded for strings), its position and, for values, the
    value kind."""

    __slots__ = ("col", "kind", "line", "text", "vkind")

    def __init__(self, kind: str, text: str, line: int, col: int, vkind: str = "") -> None:
        self.kind = kind
        self.text = text
        self.line = line
        self.col = col
        self.vkind = vkind

    def describe(self) -> str:
        """How parse errors name this token (`found '<text>'`)."""
        if self.kind == EOF:
            return "end of input"
        if self.kind == VALUE and self.vkind == STRING:
            text = self.text if len(self.text) <= 40 else self.text[:37] + "..."
            return "'" + '"' + text.replace("\n", "\\n") + '"' + "'"
        return f"'{self.text}'"

    def __repr__(self) -> str:
        return f"Token({self.kind!r}, {self.text!r}, {self.line}, {self.col}, {self.vkind!r})"


def tokenize(text: str) -> list[Token]:
    """Split DOT text into tokens; the list ends with an EOF token or an ERROR token."""
    tokens: list[Token] = []
    append = tokens.append
    n = len(text)
    pos = 0
    line = 1
    line_start = 0  # index of the first character of the current line
    in_brackets = False
    value_next = False
    while True:
        # Skip whitespace and comments in one match, keeping line numbers right.
        if pos < n and text[pos] in _SKIP_START:
            m = _SKIP.match(text, pos)
            if m is not None:
                end = m.end()
                newlines = text.count("\n", pos, end)
                if newlines:
                    line += newlines
                    line_start = text.rfind("\n", pos, end) + 1
                pos = end
        if pos >= n:
            append(Token(EOF, "", line, pos - line_start + 1))
            return tokens
        c = text[pos]
        col = pos - line_start + 1

        if value_next:
            value_next = False
            if c == '"':
                result = _scan_string(text, pos)
                if result is None:
                    append(Token(ERROR, "unterminated string", line, col))
                    return tokens
                decoded, end = result
                append(Token(VALUE, decoded, line, col, STRING))
                newlines = text.count("\n", pos, end)
                if newlines:
                    line += newlines
                    line_start = text.rfind("\n", pos, end) + 1
                pos = end
                continue
            if c in _NUMBER_START:
                number = _scan_number(text, pos)
                if number is not None:
                    vkind, end = number
                    append(Token(VALUE, text[pos:end], line, col, vkind))
                    pos = end
                    continue
            elif c in _IDENT_START:
                m = _WORD.match(text, pos)
                assert m is not None
                word = m.group()
                if "." in word or "-" in word:
                    vkind = BARE
                elif word == "true" or word == "false":
                    vkind = BOOL
                else:
                    vkind = IDENT_VALUE
                append(Token(VALUE, word, line, col, vkind))
                pos = m.end()
                continue
            # No value starts here: lex an ordinary token, the parser reports "expected value".

        if c in _IDENT_START:
            m = (_KEY if in_brackets else _IDENT).match(text, pos)
            assert m is not None
            word = m.group()
            append(Token(KEY if "." in word else IDENT, word, line, col))
            pos = m.end()
        elif c in _PUNCT:
            kind = _PUNCT[c]
            append(Token(kind, c, line, col))
            if kind == LBRACKET:
                in_brackets = True
            elif kind == RBRACKET:
                in_brackets = False
            pos += 1
        elif c == "=":
            append(Token(EQUALS, c, line, col))
            value_next = True
            pos += 1
        elif c == "-" and pos + 1 < n and text[pos + 1] == ">":
            append(Token(ARROW, "->", line, col))
            pos += 2
        else:
            append(Token(ERROR, f"unexpected character '{c}'", line, col))
            return tokens


def _scan_string(text: str, start: int) -> tuple[str, int] | None:
    """Decode the string opening at `start`; return it and the index after the closing quote."""
    parts: list[str] = []
    pos = start + 1
    n = len(text)
    while True:
        m = _STRING_RUN.match(text, pos)
        assert m is not None
        end = m.end()
        if end >= n:
            return None
        parts.append(text[pos:end])
        if text[end] == '"':
            return "".join(parts), end + 1
        # A backslash: the four escapes are decoded, anything else is kept as written.
        if end + 1 >= n:
            return None
        escaped = _ESCAPES.get(text[end + 1])
        if escaped is None:
            parts.append("\\")
            pos = end + 1
        else:
            parts.append(escaped)
            pos = end + 2


def _scan_number(text: str, pos: int) -> tuple[str, int] | None:
    """Match duration, float, then int at `pos` (the order of §2)."""
    m = _DURATION.match(text, pos)
    if m is not None:
        return DURATION, m.end()
    m = _FLOAT.match(text, pos)
    if m is not None:
        return FLOAT, m.end()
    m = _INT.match(text, pos)
    if m is not None:
        return INT, m.end()
    return None
