"""What a shell script runs, as far as a static reading can tell (docs/governance.md).

``read_script`` splits a command stage's script or a shell tool call into simple commands
(argv each) at ``;``, ``&&``, ``||``, ``|``, ``&`` and newlines, drops leading ``VAR=value``
assignments and shell keywords (``if``, ``then``, ``do``, ``!``, ...), and records the files
that ``>``, ``>>``, ``>|``, ``&>`` and ``<>`` write to.

Where the shell would run code this reading cannot see, the script is OPAQUE: a command
substitution (``$(...)``, backquotes), a process substitution (``<(...)``, ``>(...)``), a
subshell or group in parentheses, a here-document, ANSI-C quoting (``$'...'``), ``eval``,
``exec``, ``source``/``.``, ``trap``, a shell or interpreter given code as an argument or on
its input (``bash -c``, ``sh`` reading a pipe, ``python -c``, ``perl -e``), ``find -exec``,
and a program that runs a program named in its arguments (``xargs``, ``env cmd``, ``sudo``,
``nohup``, ``timeout``, ...). A Python script is opaque by nature. The policy matches an
opaque script only with a rule whose program and args are both ``"*"`` (policy.py).

The lexer is hand-written rather than ``shlex``: shlex cannot tell a quoted ``";"`` (a word)
from an unquoted ``;`` (a separator), and it ends a word at a ``#`` inside it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Final, NamedTuple

Argv = tuple[str, ...]

# Longest first: the lexer takes the longest operator at each point.
_OPERATORS: Final = (
    ";;&", "&>>", "<<<", "<<-",
    ";;", ";&", "&&", "||", "|&", "&>", ">>", ">|", ">&", "<&", "<<", "<>", "<(", ">(",
    ";", "&", "|", "<", ">", "(", ")",
)  # fmt: skip
_OPERATOR_CHARS: Final = frozenset(";&|<>()")
_SEPARATORS: Final = frozenset({";", "&", "&&", "||", "|", "|&", "\n", ";;", ";&", ";;&"})
_WRITES: Final = frozenset({">", ">>", ">|", "&>", "&>>", "<>"})
_READS: Final = frozenset({"<", "<&", "<<<"})
_OPAQUE_OPERATORS: Final = frozenset({"(", ")", "<(", ">(", "<<", "<<-"})
# Writing to these changes no file.
_HARMLESS_TARGETS: Final = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr"})

# Keywords that may open a simple command; what follows them is the command itself.
_LEADING_KEYWORDS: Final = frozenset(
    {"!", "{", "}", "if", "then", "else", "elif", "do", "while", "until", "time"}
)
# Words that end a compound command and run nothing.
_CLOSING_KEYWORDS: Final = frozenset({"fi", "done", "esac", "}"})
# Programs that run code given as text or found elsewhere.
_OPAQUE_PROGRAMS: Final = frozenset(
    {"eval", "exec", "source", ".", "trap", "case", "function", "coproc"}
)
# Programs that run another program named in their arguments.
_WRAPPERS: Final = frozenset(
    {
        "xargs", "nohup", "nice", "ionice", "timeout", "time", "command", "builtin", "sudo",
        "doas", "su", "setsid", "stdbuf", "watch", "flock", "chroot", "parallel", "taskset",
        "unbuffer", "runuser", "busybox",
    }
)  # fmt: skip
_SHELLS: Final = frozenset({"sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish"})
# Interpreters and the option that gives them code as an argument.
_INLINE_CODE: Final = {"perl": "e", "ruby": "e", "node": "e", "nodejs": "e", "php": "r"}
_PYTHON: Final = re.compile(r"python[0-9.]*|pypy[0-9.]*")
_ASSIGNMENT: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\+?=")
# Runs of characters with no meaning to the lexer, unquoted and inside "...".
_PLAIN: Final = re.compile(r"[^ \t\r\n;&|<>()'\"\\`$#]+")
_PLAIN_QUOTED: Final = re.compile(r'[^"\\`$]+')
_FIND_EXEC: Final = frozenset({"-exec", "-execdir", "-ok", "-okdir"})


class Script(NamedTuple):
    """A script as read: its simple commands, the files it redirects output to (as written,
    relative to where the shell stands) and whether parts of it cannot be seen into."""

    commands: tuple[Argv, ...]
    opaque: bool
    writes: tuple[str, ...] = ()


OPAQUE: Final = Script((), True)


class _Opaque(Exception):
    """The script holds a construct whose effect no static reading can see."""


@dataclass
class _Word:
    # Pieces joined once at the end: adding to a str char by char is quadratic, and a script
    # may be a long one (a model writes the shell tool's command).
    parts: list[str] = field(default_factory=list)
    started: bool = False  # a quoted empty string is still a word
    quoted: bool = False  # some part of it was quoted or escaped

    def add(self, piece: str, quoted: bool = False) -> None:
        self.parts.append(piece)
        self.started = True
        self.quoted = self.quoted or quoted

    @property
    def text(self) -> str:
        return "".join(self.parts)


def read_script(text: str, language: str = "shell") -> Script:
    """The simple commands of ``text`` (a ``shell`` or ``python`` script) and its writes."""
    if language != "shell":
        return OPAQUE
    try:
        tokens = _lex(text)
        return _split(tokens)
    except _Opaque:
        return OPAQUE


# ---- lexing ----------------------------------------------------------------------------------

Token = tuple[str, bool]  # (text, is_operator)


def _lex(text: str) -> list[Token]:
    tokens: list[Token] = []
    word = _Word()
    i, n = 0, len(text)

    def end_word() -> None:
        nonlocal word
        if word.started:
            tokens.append((word.text, False))
        word = _Word()

    while i < n:
        char = text[i]
        if char in " \t\r":
            end_word()
            i += 1
        elif char == "\n":
            end_word()
            tokens.append(("\n", True))
            i += 1
        elif char == "#" and not word.started:
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif char == "\\":
            if i + 1 < n and text[i + 1] == "\n":  # a line continuation
                i += 2
                continue
            word.add(text[i + 1 : i + 2], quoted=True)
            i += 2
        elif char == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise _Opaque
            word.add(text[i + 1 : end], quoted=True)
            i = end + 1
        elif char == '"':
            i = _double_quoted(text, i + 1, word)
        elif char == "`":
            raise _Opaque
        elif char == "$" and text[i + 1 : i + 2] in ("(", "'"):
            raise _Opaque  # $(...), $((...)), $'...'
        elif char in _OPERATOR_CHARS:
            operator = next(op for op in _OPERATORS if text.startswith(op, i))
            if operator in _OPAQUE_OPERATORS:
                raise _Opaque
            if char in "<>" and not word.quoted and word.started and word.text.isdigit():
                word = _Word()  # `2>`: a file descriptor, not an argument
            end_word()
            tokens.append((operator, True))
            i += len(operator)
        else:
            plain = _PLAIN.match(text, i)
            end = plain.end() if plain else i + 1
            word.add(text[i:end])
            i = end
    if word.started:
        tokens.append((word.text, False))
    return tokens


def _double_quoted(text: str, i: int, word: _Word) -> int:
    """Read a "..." string from ``i`` (after the quote) into ``word``; the index after it."""
    word.add("", quoted=True)
    n = len(text)
    while i < n:
        plain = _PLAIN_QUOTED.match(text, i)
        if plain:
            word.add(plain.group())
            i = plain.end()
            continue
        char = text[i]
        if char == '"':
            return i + 1
        if char == "`" or (char == "$" and text[i + 1 : i + 2] == "("):
            raise _Opaque
        if char == "\\" and i + 1 < n and text[i + 1] in '$`"\\\n':
            if text[i + 1] != "\n":
                word.add(text[i + 1])
            i += 2
            continue
        word.add(char)
        i += 1
    raise _Opaque  # unterminated: the shell would read on, or fail


# ---- splitting into simple commands ----------------------------------------------------------


def _split(tokens: list[Token]) -> Script:
    commands: list[Argv] = []
    writes: list[str] = []
    current: list[str] = []

    def finish() -> None:
        argv = _command_words(current)
        if argv:
            _check_program(argv)
            commands.append(argv)
        current.clear()

    i = 0
    while i < len(tokens):
        text, is_operator = tokens[i]
        if not is_operator:
            current.append(text)
        elif text in _SEPARATORS:
            finish()
        else:  # a redirection: the next token is its target
            if i + 1 >= len(tokens) or tokens[i + 1][1]:
                raise _Opaque  # a syntax error: let the policy see it as unknown
            target = tokens[i + 1][0]
            if text in _WRITES or (text == ">&" and not _is_descriptor(target)):
                if target not in _HARMLESS_TARGETS:
                    writes.append(target)
            elif text not in _READS and not (text == ">&" and _is_descriptor(target)):
                raise _Opaque
            i += 1
        i += 1
    finish()
    return Script(tuple(commands), False, tuple(writes))


def _is_descriptor(target: str) -> bool:
    return target.isdigit() or target == "-"


def _command_words(words: list[str]) -> Argv:
    """``words`` without leading assignments and keywords; () when nothing runs."""
    start = 0
    while start < len(words):
        word = words[start]
        if _ASSIGNMENT.match(word) or word in _LEADING_KEYWORDS:
            start += 1
        else:
            break
    argv = tuple(words[start:])
    if not argv or argv[0] in _CLOSING_KEYWORDS:
        return ()
    if argv[0] in ("for", "select"):
        return ()  # a loop header assigns a variable; the body's commands are read on their own
    return argv


def program_name(argv0: str) -> str:
    return os.path.basename(argv0) or argv0


def _check_program(argv: Argv) -> None:
    """_Opaque when ``argv`` runs code or a program it does not name in argv[0]."""
    name = program_name(argv[0])
    if "$" in argv[0] or name in _OPAQUE_PROGRAMS or name in _WRAPPERS:
        raise _Opaque
    options = [word for word in argv[1:] if word.startswith("-") and not word.startswith("--")]
    operands = [word for word in argv[1:] if not word.startswith("-")]
    if name == "env" and operands and any(not _ASSIGNMENT.match(word) for word in operands):
        raise _Opaque
    # A shell or an interpreter given code as an argument, or reading it from a pipe.
    if name in _SHELLS and (not operands or _has_flag(options, "c", "s")):
        raise _Opaque
    if _PYTHON.fullmatch(name) and (not operands or _has_flag(options, "c")):
        raise _Opaque
    flag = _INLINE_CODE.get(name)
    if flag is not None and (not operands or _has_flag(options, flag)):
        raise _Opaque
    if name == "find" and _FIND_EXEC.intersection(argv[1:]):
        raise _Opaque


def _has_flag(options: list[str], *letters: str) -> bool:
    """True when one of the short ``options`` (``-ec`` too) holds one of ``letters``."""
    return any(letter in option for option in options for letter in letters)
