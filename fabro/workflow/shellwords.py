"""Where each `$name` of a command script stands, and how to quote a value to fit there.

fabro expands variables into command scripts by text (workflow-language.md §9.2), and their
values may come from a request: each must reach the program as one literal word, whatever the
author wrote around the reference. `references` lexes just enough of the shell language to
tell, for every `$name`, whether it stands unquoted, inside `"..."`, inside `'...'` or in a
comment; `quoted` gives the `shlex.quote`d text that keeps the value one literal word there
(written `$'...'` when the value holds newlines, so that it stays on one line).

Where the shell evaluates text once more (backquotes, `${...}`, `$'...'`, arithmetic `$((...))`
and `((...))`, `[[...]]`, an array subscript `a[...]`), inside quotes opened on an earlier line
(after a syntax error bash reads on from the next line, unquoted), and from the first construct
this lexer does not follow (a here-document, `let`, `$[...]`, `case` inside `$(...)`), a
reference is OPAQUE: only a plain word (ASCII letters, digits and `_@%+=:,./-`) may be placed
there. Python scripts are OPAQUE throughout. (Bash still evaluates a quoted word as arithmetic
where it does so with any value, e.g. when assigning to a `declare -i` variable: authors must
not.)
"""

from __future__ import annotations

import bisect
import math
import re
import shlex
from dataclasses import dataclass
from typing import Final, Literal

Context = Literal["word", "double", "single", "comment", "opaque"]
WORD: Final = "word"
DOUBLE: Final = "double"
SINGLE: Final = "single"
COMMENT: Final = "comment"
OPAQUE: Final = "opaque"

_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# `$$` first: `$$name` is the shell's `$$` followed by plain text (as in the goal and prompts).
_REFERENCE: Final = re.compile(r"\$(\$|[A-Za-z_][A-Za-z0-9_]*)")
_PLAIN: Final = re.compile(r"[\w@%+=:,./-]*", re.ASCII)  # shlex.quote leaves these as they are
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_OR_QUOTE: Final = re.compile(r"[\x00-\x1f\x7f\\']")
_WORD_BREAK: Final = frozenset(" \t\n;&|()<>")
# Runs of characters that mean nothing to the lexer in each kind of frame, skipped at once.
_ORDINARY: Final = {
    "unquoted": re.compile(r"[^\s\\'\"`$#\[\](){}<>;&|]*"),
    "dq": re.compile(r"[^\\\"`$]*"),
    "sq": re.compile(r"[^'$]*"),
    "ansi": re.compile(r"[^\\'$]*"),
    "backquote": re.compile(r"[^\\`$]*"),
}
# Frames in which the shell evaluates the text again, or that this lexer does not model.
_OPAQUE_FRAMES: Final = frozenset({"backquote", "ansi", "param", "arith", "test", "subscript"})
_UNQUOTED_FRAMES: Final = frozenset({"top", "cmd", "param", "arith", "test", "subscript"})
_NAME_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


@dataclass(frozen=True, slots=True)
class Reference:
    """`$name` at `text[start:end]`, and the kind of place it stands in."""

    start: int
    end: int
    name: str
    context: Context


def quoted(value: str, context: Context) -> str | None:
    """The text that puts `value` in `context` as one literal word; None where none can."""
    if context == WORD:
        return _word(value)
    if _PLAIN.fullmatch(value):
        return value
    if context == DOUBLE:
        return f'"{_word(value)}"'  # close the author's quotes, add the word, reopen
    if context == SINGLE:
        return f"'{_word(value)}'"
    if context == COMMENT:
        return shlex.quote(value.replace("\n", " "))  # a newline would end the comment
    return None


def _word(value: str) -> str:
    """`shlex.quote(value)`, kept on one line: `$'...'` with escapes for control characters.

    After a syntax error bash skips the rest of the line and reads on: a value's later lines
    must never be there to be read as commands.
    """
    if not _CONTROL.search(value):
        return shlex.quote(value)
    return "$'" + _CONTROL_OR_QUOTE.sub(_escape, value) + "'"


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    return "\\" + (char if char in "\\'" else f"{ord(char):03o}")


def references(script: str, *, language: str = "shell") -> list[Reference]:
    """Every `$name` of `script` with its context (`$$` is the shell's and is skipped)."""
    if language == "python":
        return _opaque_references(script, 0, len(script))
    return _Lexer(script).run()


def _opaque_references(text: str, start: int, end: int) -> list[Reference]:
    return [
        Reference(m.start(), m.end(), m.group(1), OPAQUE)
        for m in _REFERENCE.finditer(text, start, end)
        if m.group(1) != "$"
    ]


@dataclass(slots=True)
class _Frame:
    kind: str  # top, cmd, dq, sq, backquote, ansi, param, arith, test, subscript
    depth: int = 0  # open parentheses (cmd, arith), braces (param) or brackets (subscript)
    line: int = 0  # where it opened
    # The first line of a frame other than `cmd` from here down the stack: a line that starts
    # inside such a frame is read differently by bash after a syntax error (see _context).
    quoted_since: float = math.inf


class _Lexer:
    """A scanner of the quoting structure of a bash script, in one pass (linear time)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.frames = [_Frame("top")]
        self.opaque = 0  # frames of _OPAQUE_FRAMES on the stack
        self.commands = 0  # `cmd` frames on the stack
        self.newlines = [m.start() for m in re.finditer("\n", text)]
        self.found: list[Reference] = []
        self.lost = False  # met a construct it does not follow: the rest is OPAQUE
        self.dirty_line = -1  # a line on which a frame from an earlier line closed
        self.escaped = -1  # just after the last backslash escape outside quotes

    def run(self) -> list[Reference]:
        text = self.text
        while self.pos < len(text) and not self.lost:
            kind = self.frames[-1].kind
            if kind in _UNQUOTED_FRAMES:
                self._unquoted(kind)
            elif kind == "dq":
                self._double()
            else:
                self._raw(kind)
        if self.lost:
            return self.found + _opaque_references(text, self.pos, len(text))
        return self.found

    # --- state ----------------------------------------------------------------------------------

    def _push(self, kind: str, depth: int = 0, width: int = 1) -> None:
        line = self._line()
        since = self.frames[-1].quoted_since
        self.frames.append(_Frame(kind, depth, line, since if kind == "cmd" else min(since, line)))
        self.opaque += kind in _OPAQUE_FRAMES
        self.commands += kind == "cmd"
        self.pos += width

    def _pop(self, width: int = 1) -> None:
        frame = self.frames.pop()
        self.opaque -= frame.kind in _OPAQUE_FRAMES
        self.commands -= frame.kind == "cmd"
        if frame.kind != "cmd" and frame.line != self._line():
            self.dirty_line = self._line()
        self.pos += width

    def _nest(self, frame: _Frame, char: str, opening: str) -> None:
        """Count an opening or closing bracket of `frame`; pop it when the last one closes."""
        frame.depth += 1 if char == opening else -1
        if frame.depth > 0:
            self.pos += 1
        else:
            self._pop()

    def _line(self) -> int:
        return bisect.bisect_right(self.newlines, self.pos)

    def _context(self, innermost: Context) -> Context:
        if self.opaque:
            return OPAQUE
        # After a syntax error bash skips the rest of the line and reads the next one from
        # scratch, unquoted: on a line that starts inside quotes (or where quotes from an
        # earlier line close) bash may not read what this lexer reads.
        line = self._line()
        if self.frames[-1].quoted_since < line or self.dirty_line == line:
            return OPAQUE
        return innermost

    def _word_start(self) -> bool:
        """Whether a word may start here (generous: it finds constructs to be careful about)."""
        return self.pos == 0 or self.text[self.pos - 1] in _WORD_BREAK

    def _comment_start(self) -> bool:
        """Whether a `#` here surely starts a comment for bash (strict: a comment hides text).

        Not after `)`, which may close a `$(...)` that the word goes on from, nor after an
        escaped blank.
        """
        return self.pos == 0 or (self.text[self.pos - 1] in " \t\n" and self.pos != self.escaped)

    def _after_name(self) -> bool:
        return self.pos > 0 and self.text[self.pos - 1] in _NAME_CHARS

    def _at(self, prefix: str) -> bool:
        return self.text.startswith(prefix, self.pos)

    def _skip(self, kind: str) -> None:
        """Move past the current character and the run of ordinary ones after it."""
        match = _ORDINARY[kind].match(self.text, self.pos + 1)
        self.pos = match.end() if match else self.pos + 1

    def _keyword(self, word: str) -> bool:
        end = self.pos + len(word)
        return self._at(word) and self.text[end : end + 1] in (" ", "\t", "\n")

    # --- one step in each kind of frame ---------------------------------------------------------

    def _unquoted(self, kind: str) -> None:
        char = self.text[self.pos]
        frame = self.frames[-1]
        if char == "\\":
            self.pos += 2
            self.escaped = self.pos
        elif char in "'\"`":
            self._push({"'": "sq", '"': "dq", "`": "backquote"}[char])
        elif char == "$":
            self._dollar(WORD, unquoted=True)
        elif kind in ("top", "cmd") and self._word_start() and self._command_word():
            pass
        elif self._at("<<<"):
            self.pos += 3
        elif self._at("<<"):
            # A here-document (its body follows other rules), or a shift inside `$((...))`
            # that bash may read as `$( (...) )`: this lexer does not follow either.
            self.lost = True
        elif kind == "arith" and self._word_start() and self._keyword("case"):
            self.lost = True  # `$(( case` is `$( (case ...) )`, with pattern `)`s
        elif kind in ("top", "cmd") and char == "[" and self._after_name():
            self._push("subscript", 1)  # `a[...]`: bash evaluates a subscript as arithmetic
        elif kind == "param" and char in "{}":
            self._nest(frame, char, "{")
        elif kind == "subscript" and char in "[]":
            self._nest(frame, char, "[")
        elif kind in ("cmd", "arith") and char in "()":
            self._nest(frame, char, "(")
        elif kind == "test" and self._at("]]"):
            self._pop(2)
        elif char in _WORD_BREAK:
            self.pos += 1  # the next character may start a word: look at it on its own
        else:
            self._skip("unquoted")

    def _command_word(self) -> bool:
        """Handle what only counts at the start of a word: `#`, `[[`, `((`, `let`, `case`."""
        text, pos = self.text, self.pos
        if text[pos] == "#":
            if not self._comment_start():
                return False
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end
            context = self._context(COMMENT)
            self.found.extend(
                Reference(ref.start, ref.end, ref.name, context)
                for ref in _opaque_references(text, pos, end)
            )
            self.pos = end
        elif self._keyword("[["):
            self._push("test", width=2)
        elif self._at("(("):
            self._push("arith", 2, width=2)
        elif self._keyword("let"):
            self.lost = True  # its arguments are arithmetic: bash evaluates them as code
        elif self._keyword("case") and self.commands:
            self.lost = True  # a pattern's `)` would end the `$(...)` early for this lexer
        else:
            return False
        return True

    def _double(self) -> None:
        char = self.text[self.pos]
        if char == "\\":
            self.pos += 2
        elif char == '"':
            self._pop()
        elif char == "`":
            self._push("backquote")
        elif char == "$":
            self._dollar(DOUBLE, unquoted=False)
        else:
            self._skip("dq")

    def _raw(self, kind: str) -> None:
        """`'...'`, `$'...'` and backquotes: only their end and `$name` matter."""
        char = self.text[self.pos]
        end = "`" if kind == "backquote" else "'"
        if char == "\\" and kind != "sq":
            self.pos += 2
        elif char == end:
            self._pop()
        elif char == "$":
            self._reference(self._context(SINGLE))
        else:
            self._skip(kind)

    # --- `$` ------------------------------------------------------------------------------------

    def _dollar(self, innermost: Context, *, unquoted: bool) -> None:
        if self._reference(self._context(innermost)):
            return
        if self._at("$(("):
            self._push("arith", 2, width=3)
        elif self._at("$("):
            self._push("cmd", 1, width=2)
        elif self._at("${"):
            self._push("param", 1, width=2)
        elif self._at("$["):
            self.lost = True  # the old `$[...]` arithmetic
        elif unquoted and self._at("$'"):
            self._push("ansi", width=2)
        elif unquoted and self._at('$"'):
            self._push("dq", width=2)
        else:
            self.pos += 1

    def _reference(self, context: Context) -> bool:
        """Record `$name` (or skip `$$`) at the cursor; False when neither is there."""
        if self._at("$$"):
            self.pos += 2
            return True
        match = _NAME.match(self.text, self.pos + 1)
        if match is None:
            if self.frames[-1].kind in ("sq", "ansi", "backquote"):
                self.pos += 1
                return True
            return False
        self.found.append(Reference(self.pos, match.end(), match.group(0), context))
        self.pos = match.end()
        return True
