"""One policy rule, compiled once from its TOML table: its globs and what it matches.

Two flavours of glob (docs/governance.md):

- text globs (program, args, hosts, workflows, users): ``*`` is any run of characters,
  ``?`` one character, ``[abc]``/``[!abc]`` one of (not) these; matched whole, case-sensitive
  (hosts are compared in lower case);
- path globs (paths): absolute, or starting with ``{work_dir}``; ``*`` and ``?`` stay inside
  one path segment, ``**`` as a whole segment is any number of segments (``/a/**`` is every
  path inside ``/a``, not ``/a`` itself).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from fabro.config_file import show
from fabro.governance.actions import ACTION_KINDS, ActionKind, Verdict

WORK_DIR: Final = "{work_dir}"
# Where {work_dir} stands in a compiled path glob: a regex comment, replaced per run.
_WORK_DIR_MARK: Final = "(?#work_dir)"
_CACHE_LIMIT: Final = 64  # compiled path globs kept per rule, one per working directory

DECISIONS: Final = {verdict.name.lower(): verdict for verdict in Verdict}
COMMAND_KINDS: Final[frozenset[ActionKind]] = frozenset({"command", "shell"})
FILE_KINDS: Final[frozenset[ActionKind]] = frozenset({"file_write", "file_read"})
# The kinds each key can say something about; a rule with a key matches only those kinds.
KEY_KINDS: Final[dict[str, frozenset[ActionKind]]] = {
    "program": COMMAND_KINDS,
    "args": COMMAND_KINDS,
    "paths": COMMAND_KINDS | FILE_KINDS,
    "hosts": frozenset({"network"}),
}
RULE_KEYS: Final = frozenset(
    {"name", "decision", "kinds", "program", "args", "paths", "hosts", "workflows", "users"}
)


class RuleError(ValueError):
    """A rule table that does not fit the grammar; the message names the key."""

    def __init__(self, key: str | None, message: str) -> None:
        super().__init__(message)
        self.key = key


# ---- globs -----------------------------------------------------------------------------------


def _class(pattern: str, start: int) -> tuple[str, int]:
    """The regex of the ``[...]`` at ``start``, and the index after it."""
    i = start + 1
    negate = i < len(pattern) and pattern[i] in "!^"
    if negate:
        i += 1
    end = pattern.find("]", i + 1 if i < len(pattern) and pattern[i] == "]" else i)
    if end < 0:
        raise ValueError(f"an unclosed [ in {show(pattern)}")
    body = "".join(c if c == "-" else re.escape(c) for c in pattern[i:end])
    if not body:
        raise ValueError(f"an empty [] in {show(pattern)}")
    return f"[{'^' if negate else ''}{body}]", end + 1


def _translate(pattern: str, *, path: bool) -> str:
    if not pattern and path:
        raise ValueError("an empty glob")
    other_braces = "{" in pattern.replace(WORK_DIR, "")
    if (path and other_braces) or (not path and WORK_DIR in pattern):
        raise ValueError(f"{show(pattern)}: only paths may name {WORK_DIR}, and no other {{...}}")
    if path and not (pattern.startswith("/") or pattern.startswith(WORK_DIR)):
        raise ValueError(f"{show(pattern)} is neither absolute nor under {WORK_DIR}")
    star, one = ("[^/]*", "[^/]") if path else (".*", ".")
    out: list[str | None] = []  # None: a star
    i = 0
    while i < len(pattern):
        if path and pattern.startswith(WORK_DIR, i):
            out.append(_WORK_DIR_MARK)
            i += len(WORK_DIR)
        elif path and pattern.startswith("**", i):
            before_ok = i == 0 or pattern[i - 1] == "/"
            after = pattern[i + 2 : i + 3]
            if not before_ok or after not in ("", "/"):
                raise ValueError(f"{show(pattern)}: ** must be a whole path segment")
            out.append("(?:[^/]+/)*" if after == "/" else "[^/]+(?:/[^/]+)*")
            i += 3 if after == "/" else 2
        elif pattern[i] == "*":
            out.append(None)
            i += 1
        elif pattern[i] == "?":
            out.append(one)
            i += 1
        elif pattern[i] == "[":
            regex, i = _class(pattern, i)
            out.append(regex)
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return _join_stars(out, star)


def _join_stars(pieces: list[str | None], star: str) -> str:
    """The regex of ``pieces``, where None is a star. As in CPython's fnmatch, the text
    between two stars is found by an atomic lazy group, so that a glob like ``*a*a*a*b``
    takes linear time on a long argument line instead of backtracking without end."""
    chunks = [""]
    for piece in pieces:
        if piece is None:
            chunks.append("")
        else:
            chunks[-1] += piece
    if len(chunks) == 1:
        return chunks[0]
    head, *middle, tail = chunks
    return head + "".join(f"(?>{star}?{text})" for text in middle if text) + star + tail


def text_glob(pattern: str) -> re.Pattern[str]:
    """A compiled text glob; ValueError naming what is wrong with it."""
    try:
        return re.compile(_translate(pattern, path=False), re.DOTALL)
    except re.error as exc:
        raise ValueError(f"{show(pattern)}: {exc.msg}") from None


@dataclass(frozen=True)
class PathGlob:
    """A compiled path glob; with {work_dir}, compiled again for each working directory."""

    pattern: str
    regex: str
    fixed: re.Pattern[str] | None = field(compare=False)
    _per_dir: dict[str, re.Pattern[str]] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, pattern: str) -> PathGlob:
        regex = _translate(pattern, path=True)
        try:
            compiled = re.compile(regex.replace(_WORK_DIR_MARK, re.escape("/w")))
        except re.error as exc:
            raise ValueError(f"{show(pattern)}: {exc.msg}") from None
        return cls(pattern, regex, None if _WORK_DIR_MARK in regex else compiled)

    def matches(self, path: str, work_dir: str) -> bool:
        if self.fixed is not None:
            return self.fixed.fullmatch(path) is not None
        compiled = self._per_dir.get(work_dir)
        if compiled is None:
            if len(self._per_dir) >= _CACHE_LIMIT:
                self._per_dir.clear()
            compiled = re.compile(self.regex.replace(_WORK_DIR_MARK, re.escape(work_dir)))
            self._per_dir[work_dir] = compiled
        return compiled.fullmatch(path) is not None


# ---- rules -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """A compiled rule. ``None`` for a glob key means "any" (the key was absent or "*")."""

    name: str
    verdict: Verdict
    kinds: frozenset[ActionKind]  # the kinds it can match: its `kinds` and its keys allow them
    program: re.Pattern[str] | None = None
    # The program's glob when it has no wildcard: compared as text, quicker than a regex.
    program_name: str | None = None
    args: re.Pattern[str] | None = None
    paths: tuple[PathGlob, ...] | None = None
    hosts: tuple[re.Pattern[str], ...] | None = None
    workflows: tuple[re.Pattern[str], ...] | None = None
    users: tuple[re.Pattern[str], ...] | None = None
    where: str = field(default="", compare=False)  # file:line, for messages

    @property
    def sees_all_commands(self) -> bool:
        """True when it matches any command whatever it runs: the rules for opaque scripts."""
        return self.program is None and self.args is None and self.paths is None

    def applies_to(self, workflow: str, user: str) -> bool:
        return _any(self.workflows, workflow) and _any(self.users, user)


def _any(globs: tuple[re.Pattern[str], ...] | None, text: str) -> bool:
    return globs is None or any(glob.fullmatch(text) for glob in globs)


# Keys where "" is a meaningful glob: no arguments, submitted DOT, no user (`fabro run`).
_EMPTY_MATCHES = frozenset({"args", "workflows", "users"})


def _string(raw: Any, key: str) -> str:
    if not isinstance(raw, str) or not (raw or key in _EMPTY_MATCHES):
        raise RuleError(key, f"{key} must be a non-empty string (got {show(raw)})")
    return raw


def _strings(raw: Any, key: str) -> list[str]:
    if (
        not isinstance(raw, list)
        or not raw
        or not all(isinstance(item, str) and (item or key in _EMPTY_MATCHES) for item in raw)
    ):
        raise RuleError(key, f"{key} must be a non-empty array of strings (got {show(raw)})")
    return list(raw)


def _globs(raw: Any, key: str, compile_one: Callable[[str], Any]) -> tuple[Any, ...] | None:
    patterns = _strings(raw, key)
    if "*" in patterns and key != "paths":
        return None  # any
    try:
        return tuple(compile_one(pattern) for pattern in patterns)
    except ValueError as exc:
        raise RuleError(key, f"{key}: bad glob {exc}") from None


def _glob(raw: Any, key: str) -> re.Pattern[str] | None:
    pattern = _string(raw, key)
    if pattern == "*":
        return None
    try:
        return text_glob(pattern)
    except ValueError as exc:
        raise RuleError(key, f"{key}: bad glob {exc}") from None


def compile_rule(table: Mapping[str, Any]) -> Rule:
    """The rule of one ``[[rule]]`` table; RuleError naming the first key that is wrong."""
    unknown = sorted(set(table) - RULE_KEYS)
    if unknown:
        raise RuleError(unknown[0], f'unknown key "{unknown[0]}"')
    if "name" not in table:
        raise RuleError(None, "name is required")
    name = _string(table["name"], "name")
    if "decision" not in table:
        raise RuleError(None, "decision is required")
    decision = table["decision"]
    if decision not in DECISIONS:
        expected = ", ".join(f'"{d}"' for d in DECISIONS)
        raise RuleError("decision", f"decision must be one of {expected} (got {show(decision)})")
    kinds = frozenset(ACTION_KINDS)
    if "kinds" in table:
        listed = _strings(table["kinds"], "kinds")
        bad = [kind for kind in listed if kind not in ACTION_KINDS]
        if bad:
            expected = ", ".join(f'"{k}"' for k in ACTION_KINDS)
            raise RuleError("kinds", f"kinds must name {expected} (got {show(bad[0])})")
        kinds = frozenset(k for k in ACTION_KINDS if k in listed)
    for key, allowed in KEY_KINDS.items():
        if key in table:
            kinds &= allowed
    if not kinds:
        raise RuleError(None, "its keys apply to none of its kinds: it can never match")

    def optional(key: str, read: Callable[[Any, str], Any]) -> Any:
        return read(table[key], key) if key in table else None

    return Rule(
        name=name,
        verdict=DECISIONS[decision],
        kinds=kinds,
        program=optional("program", _glob),
        program_name=_literal(table.get("program")),
        args=optional("args", _glob),
        paths=optional("paths", lambda raw, key: _globs(raw, key, PathGlob.of)),
        hosts=optional("hosts", lambda raw, key: _globs(_lower(raw, key), key, text_glob)),
        workflows=optional("workflows", lambda raw, key: _globs(raw, key, text_glob)),
        users=optional("users", lambda raw, key: _globs(raw, key, text_glob)),
    )


def _literal(pattern: Any) -> str | None:
    if not isinstance(pattern, str) or any(char in pattern for char in "*?["):
        return None
    return pattern


def _lower(raw: Any, key: str) -> list[str]:
    return [host.lower() for host in _strings(raw, key)]
