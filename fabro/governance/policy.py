"""The policy: rules over actions, fail-closed when configured (docs/governance.md).

``Policy.decide(action, subject)`` considers every rule that matches the action and takes
the strictest verdict (ties: the first rule); with a policy configured and no rule matching,
the action is blocked (rule "default"); with none configured, everything is allowed.

A script is decided command by command (scripts.py), strictest first; a redirection to a
file is decided as a write of that file. Where an argument cannot be known before the shell
runs (``$VAR``, ``~``, ``{a,b}``), a rule that looks at arguments or paths is taken to match
when it is stricter than allow and not to when it allows: an unknown never loosens a policy.
"""

from __future__ import annotations

import logging
import os
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from fabro.config_file import FileSource
from fabro.errors import StartupError
from fabro.governance.actions import (
    ACTION_KINDS,
    NO_POLICY,
    Action,
    ActionKind,
    Decision,
    Subject,
    Verdict,
)
from fabro.governance.policy_file import Stamp, read_policy_file, read_policy_table, stamp
from fabro.governance.rules import Rule
from fabro.governance.scripts import Argv, program_name

log = logging.getLogger(__name__)

DEFAULT_BLOCK: Final = Decision(Verdict.BLOCK, "default")
_CHANGES_DIRECTORY: Final = frozenset({"cd", "pushd", "popd"})
_SUBJECTS_KEPT: Final = 256  # (kind, workflow, user) whose rules are memoised


@dataclass(frozen=True)
class PolicySettings:
    """[policy] of server.toml: its rules and the policy file's (read at load)."""

    configured: bool = False  # a [policy] table is present: what no rule allows is blocked
    rules: tuple[Rule, ...] = ()
    # What an action no rule matches gets: BLOCK, or APPROVE ([policy] default = "approve":
    # a person decides what the rules did not foresee). Never ALLOW: fail-closed.
    fallback: Decision = DEFAULT_BLOCK
    file: Path | None = None
    # The policy file is reloaded on its own (PolicySource): a change to it is not a change
    # to server.toml's [policy], which needs a restart (config_watch.py compares settings).
    file_rules: tuple[Rule, ...] = field(default=(), compare=False)
    file_stamp: Stamp | None = field(default=None, compare=False)


def read_policy(source: FileSource, base: Path, env: Mapping[str, str]) -> PolicySettings:
    """[policy] of ``source`` and its policy file; StartupError naming file:line and key."""
    if not source.has("policy"):
        return PolicySettings()
    rules, file, fallback = read_policy_table(source, base, env)
    if file is None:
        return PolicySettings(configured=True, rules=rules, fallback=fallback)
    file_stamp = stamp(file)
    file_rules = read_policy_file(file, taken={rule.name for rule in rules})
    return PolicySettings(True, rules, fallback, file, file_rules, file_stamp)


def policy_banner(settings: PolicySettings) -> str:
    """The startup line that says which policy is in force."""
    if not settings.configured:
        return "policy: none configured; every action is allowed"
    count = len(settings.rules)
    line = f"policy: {count} rule{'' if count == 1 else 's'} from server.toml"
    if settings.file is not None:
        line += f" (+ {len(settings.file_rules)} from {settings.file.name})"
    if settings.fallback.verdict is Verdict.APPROVE:
        return line + "; anything else waits for a person's approval"
    return line + "; anything else is blocked"


# ---- deciding --------------------------------------------------------------------------------


class _Match(Enum):
    NO = 0
    YES = 1
    MAYBE = 2  # depends on what the shell expands: counts for rules stricter than allow


def _unknown(word: str) -> bool:
    """True when the shell may turn ``word`` into something else ($VAR, ~, {a,b})."""
    return "$" in word or word.startswith("~") or "{" in word


def _normal(path: str) -> str:
    """An absolute ``path`` without `.`, `..` or doubled slashes (no filesystem access)."""
    if "/." in path or "//" in path or path.endswith("/"):
        path = "/" + os.path.normpath(path).lstrip("/")  # normpath keeps a leading "//"
    return path


def _resolve(word: str, cwd: str | None) -> str | None:
    """The shell word ``word`` as an absolute path; None when it cannot be known."""
    if _unknown(word) or (cwd is None and not word.startswith("/")):
        return None
    return _normal(word if word.startswith("/") else f"{cwd}/{word}")


class _Command:
    """One simple command as the rules look at it (each view computed on first use)."""

    __slots__ = ("_args", "_args_read", "_operands", "argv", "basename", "cwd", "program")

    def __init__(self, argv: Argv, cwd: str | None) -> None:
        self.argv = argv
        self.cwd = cwd
        self.program = argv[0] if argv else ""
        self.basename = program_name(self.program) if argv else ""
        self._args: str | None = None
        self._args_read = False
        self._operands: list[str | None] | None = None

    @property
    def args(self) -> str | None:
        """The rest of the command line, quoted; None when the shell may change it."""
        if not self._args_read:
            words = self.argv[1:]
            self._args = None if any(_unknown(word) for word in words) else shlex.join(words)
            self._args_read = True
        return self._args

    @property
    def operands(self) -> list[str | None]:
        """Its non-option arguments as absolute paths (None: not known before it runs)."""
        if self._operands is None:
            found: list[str | None] = []
            options_end = False
            for word in self.argv[1:]:
                if word == "--" and not options_end:
                    options_end = True
                elif options_end or not word.startswith("-"):
                    found.append(_resolve(word, self.cwd))
            self._operands = found
        return self._operands


def _paths_match(rule: Rule, paths: Iterable[str | None], work_dir: str) -> _Match:
    """Whether ``paths`` (None: not known statically) fall under the rule's globs.

    Fail-closed both ways: an allowing rule needs *every* path inside its globs (no path at
    all is inside); a stricter rule needs *any* one (`cat /tmp/x /etc/shadow` is caught by a
    block on `/etc/**`, and `ls` with no path is not)."""
    if rule.paths is None:
        return _Match.YES
    every = rule.verdict is Verdict.ALLOW
    result = _Match.YES if every else _Match.NO
    for path in paths:
        if path is None:
            result = _Match.MAYBE
        elif any(glob.matches(path, work_dir) for glob in rule.paths):
            if not every:
                return _Match.YES
        elif every:
            return _Match.NO
    return result


def _command_match(rule: Rule, command: _Command, work_dir: str) -> _Match:
    name = rule.program_name
    if name is not None:
        if name != command.program and name != command.basename:
            return _Match.NO
    elif rule.program is not None and not (
        rule.program.fullmatch(command.program) or rule.program.fullmatch(command.basename)
    ):
        return _Match.NO
    result = _Match.YES
    if rule.args is not None:
        args = command.args
        if args is None:
            result = _Match.MAYBE
        elif not rule.args.fullmatch(args):
            return _Match.NO
    if rule.paths is not None:
        paths = _paths_match(rule, command.operands, work_dir)
        if paths is not _Match.YES:
            return paths
    return result


def _host(url: str | None) -> str:
    try:
        return (urlsplit(url or "").hostname or "").lower()
    except ValueError:
        return ""


def _strictest(decisions: Iterable[Decision]) -> Decision:
    best: Decision | None = None
    for decision in decisions:
        if best is None or decision.verdict > best.verdict:
            best = decision
            if best.verdict is Verdict.BLOCK:
                break
    return best or DEFAULT_BLOCK


class Policy:
    """Compiled rules and the decision they reach about an action (pure, no I/O)."""

    def __init__(
        self, rules: Sequence[Rule], configured: bool = True, fallback: Decision = DEFAULT_BLOCK
    ) -> None:
        self.rules = tuple(rules)
        self.configured = configured or bool(self.rules)
        self.fallback = fallback
        # The rules each kind can match, in order: a decision walks only those.
        self._by_kind: dict[ActionKind, tuple[Rule, ...]] = {
            kind: tuple(rule for rule in self.rules if kind in rule.kinds) for kind in ACTION_KINDS
        }
        self._filters = any(rule.workflows or rule.users for rule in self.rules)
        self._for_subject: dict[tuple[ActionKind, str, str], tuple[Rule, ...]] = {}

    @classmethod
    def of(cls, settings: PolicySettings) -> Policy:
        return cls(settings.rules + settings.file_rules, settings.configured, settings.fallback)

    def decide(self, action: Action, subject: Subject) -> Decision:
        """The verdict on ``action`` taken for ``subject`` and the rule that reached it."""
        if not self.configured:
            return NO_POLICY
        work_dir = os.path.normpath(subject.work_dir)
        kind = action.kind
        rules = self._rules(kind, subject)
        if kind == "network":
            host = _host(action.url)
            return _pick(
                ((rule, _Match.YES if _any_host(rule, host) else _Match.NO) for rule in rules),
                self.fallback,
            )
        if kind in ("file_write", "file_read"):
            paths = [_normal(path) for path in action.paths]  # literal: no shell expands them
            return _pick(
                ((rule, _paths_match(rule, paths, work_dir)) for rule in rules), self.fallback
            )
        if action.opaque:
            return _pick(
                ((rule, _Match.YES) for rule in rules if rule.sees_all_commands), self.fallback
            )
        decision = self._script(action.commands, rules, work_dir, self.fallback)
        if action.paths and decision.verdict is not Verdict.BLOCK:
            writes = self._writes(
                action, self._rules("file_write", subject), work_dir, self.fallback
            )
            if writes.verdict > decision.verdict:
                decision = writes
        return decision

    def _rules(self, kind: ActionKind, subject: Subject) -> tuple[Rule, ...]:
        """The rules of ``kind`` whose workflows and users admit ``subject`` (memoised)."""
        if not self._filters:
            return self._by_kind[kind]
        key = (kind, subject.workflow or "", subject.user or "")
        found = self._for_subject.get(key)
        if found is None:
            if len(self._for_subject) >= _SUBJECTS_KEPT:
                self._for_subject.clear()
            found = tuple(rule for rule in self._by_kind[kind] if rule.applies_to(*key[1:]))
            self._for_subject[key] = found
        return found

    @staticmethod
    def _script(
        commands: tuple[Argv, ...], rules: tuple[Rule, ...], work_dir: str, fallback: Decision
    ) -> Decision:
        """The strictest of the decisions on each simple command (the first among equals)."""
        cwd: str | None = work_dir
        decision: Decision | None = None
        for argv in commands or ((),):
            command = _Command(argv, cwd)
            program, basename = command.program, command.basename
            best: Rule | None = None
            for rule in rules:
                name = rule.program_name  # most rules name a program: the quick test first
                if name is not None and name != program and name != basename:
                    continue
                match = _command_match(rule, command, work_dir)
                if match is _Match.NO or (match is _Match.MAYBE and rule.verdict is Verdict.ALLOW):
                    continue
                if best is None or rule.verdict > best.verdict:
                    best = rule
                    if best.verdict is Verdict.BLOCK:
                        break
            found = fallback if best is None else Decision(best.verdict, best.name)
            if decision is None or found.verdict > decision.verdict:
                decision = found
                if found.verdict is Verdict.BLOCK:
                    return decision
            if command.basename in _CHANGES_DIRECTORY:
                cwd = _next_cwd(command)
        assert decision is not None
        return decision

    @staticmethod
    def _writes(
        action: Action, rules: tuple[Rule, ...], work_dir: str, fallback: Decision
    ) -> Decision:
        """Each file a redirection writes, decided as a file write."""
        # Where the shell stood at each redirection is not recorded: after a `cd`, only an
        # absolute target is known.
        moved = any(
            argv and program_name(argv[0]) in _CHANGES_DIRECTORY for argv in action.commands
        )
        return _strictest(
            _pick(((rule, _paths_match(rule, (path,), work_dir)) for rule in rules), fallback)
            for path in (_resolve(target, None if moved else work_dir) for target in action.paths)
        )


def _pick(matches: Iterable[tuple[Rule, _Match]], fallback: Decision) -> Decision:
    """The strictest matching rule (the first among equals); ``fallback`` for none."""
    best: Rule | None = None
    for rule, match in matches:
        if match is _Match.NO or (match is _Match.MAYBE and rule.verdict is Verdict.ALLOW):
            continue
        if best is None or rule.verdict > best.verdict:
            best = rule
            if best.verdict is Verdict.BLOCK:
                break
    return fallback if best is None else Decision(best.verdict, best.name)


def _any_host(rule: Rule, host: str) -> bool:
    return rule.hosts is None or any(glob.fullmatch(host) for glob in rule.hosts)


def _next_cwd(command: _Command) -> str | None:
    """Where `cd DIR` / `pushd DIR` leaves the shell; None when that is not known."""
    operands = command.operands
    if command.basename == "popd" or len(operands) != 1:
        return None  # popd, `cd` (home), `cd -`: not known from the script
    return operands[0]


# ---- reloading -------------------------------------------------------------------------------


class PolicySource:
    """The policy in force: server.toml's rules and the policy file's, reloaded when the file
    changes (``check_once``, called by the config watcher). A file that no longer reads keeps
    the previous policy: a broken edit never opens the policy up."""

    def __init__(self, settings: PolicySettings) -> None:
        self.settings = settings
        self.current = Policy.of(settings)
        self._stamp = settings.file_stamp

    def __call__(self) -> Policy:
        return self.current

    def check_once(self) -> bool:
        """Reload the policy file if it changed; True when a reload was attempted."""
        file = self.settings.file
        if file is None:
            return False
        now = stamp(file)
        if now == self._stamp:
            return False
        self._stamp = now
        try:
            file_rules = read_policy_file(file, taken={rule.name for rule in self.settings.rules})
        except StartupError as exc:
            log.error("error: %s (the previous policy stays in force)", exc)
            return True
        self.current = Policy(
            self.settings.rules + file_rules, configured=True, fallback=self.settings.fallback
        )
        log.info("reloaded policy: %d rules from %s", len(file_rules), file)
        return True
