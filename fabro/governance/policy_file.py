"""Reading policy rules from server.toml's ``[[policy.rules]]`` and from a policy file's
``[[rule]]`` tables, with errors that name the file, the line and the key.

    [policy]
    file = "policy.toml"        # optional, relative to server.toml; its rules come after

An unknown key, a bad decision or glob, a duplicate name: StartupError, never a silent
default (a typo in a policy must not quietly allow).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from fabro import config_values as valid
from fabro.config_file import FileSource, read_toml
from fabro.errors import StartupError
from fabro.governance.actions import Decision, Verdict
from fabro.governance.rules import Rule, RuleError, compile_rule
from fabro.home import expand_home

Stamp = tuple[float, int]  # (mtime, size): a change to either is a change of the file
POLICY_KEYS = frozenset({"file", "rules", "default"})
# [policy] default: what an action no rule matches gets (never allow: fail-closed).
FALLBACKS = {
    "block": Decision(Verdict.BLOCK, "default"),
    "approve": Decision(Verdict.APPROVE, "default"),
}


def stamp(path: Path) -> Stamp | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return (status.st_mtime, status.st_size)


class _Lines:
    """Finds the line of a key in a TOML file by scanning its table headers."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.lines: list[str] = []
        if path is not None:
            try:
                self.lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                pass

    def where(self, table: str, index: int = 0, key: str | None = None, array: bool = False) -> str:
        """``file:line`` of ``key`` in the ``index``-th ``[table]`` (``[[table]]`` when
        ``array``); the table's header line without a key; the file alone if not found."""
        name = re.escape(table).replace(r"\.", r"\s*\.\s*")
        header = re.compile(rf"^\s*\[\[\s*{name}\s*\]\]" if array else rf"^\s*\[\s*{name}\s*\]")
        seen, start = -1, None
        for number, line in enumerate(self.lines, start=1):
            if start is not None and re.match(r"^\s*\[", line):
                break  # the next table
            if header.match(line):
                seen += 1
                if seen == index:
                    start = number
                    if key is None:
                        break
                continue
            if start is not None and key and re.match(rf"^\s*\"?{re.escape(key)}\"?\s*=", line):
                return f"{self.path}:{number}"
        return f"{self.path}:{start}" if start is not None else f"{self.path}"


def _rules(
    tables: Any, lines: _Lines, header: str, taken: set[str], label: str
) -> tuple[Rule, ...]:
    if not isinstance(tables, list) or not all(isinstance(table, dict) for table in tables):
        raise StartupError(f"{lines.where(header)}: {label} must be an array of tables")
    rules: list[Rule] = []
    for index, table in enumerate(tables):
        name = table.get("name")
        title = f'rule "{name}"' if isinstance(name, str) and name else f"rule #{index + 1}"
        try:
            rule = compile_rule(table)
        except RuleError as exc:
            where = lines.where(header, index, exc.key, array=True)
            raise StartupError(f"{where}: {label} {title}: {exc}") from None
        where = lines.where(header, index, "name", array=True)
        if rule.name in taken:
            raise StartupError(f"{where}: {label} {title}: the name is already used")
        taken.add(rule.name)
        rules.append(replace(rule, where=where))
    return tuple(rules)


def read_policy_table(
    source: FileSource, base: Path, env: Mapping[str, str]
) -> tuple[tuple[Rule, ...], Path | None, Decision]:
    """The rules of server.toml's [policy], the policy file it names (resolved) and what an
    action no rule matches gets."""
    lines = _Lines(source.path)
    table = source.document.get("policy")
    if not isinstance(table, dict):
        raise StartupError(f"{lines.where('policy')}: policy must be a table")
    unknown = sorted(set(table) - POLICY_KEYS)
    if unknown:
        where = lines.where("policy", key=unknown[0])
        raise StartupError(f"{where}: unknown key policy.{unknown[0]}")
    rules = _rules(table.get("rules", []), lines, "policy.rules", set(), "[[policy.rules]]")
    fallback = FALLBACKS["block"]
    if "default" in table:
        fallback = FALLBACKS[source.get("policy.default", valid.one_of(*FALLBACKS))]
    if "file" not in table:
        return rules, None, fallback
    raw = source.get("policy.file", valid.nonempty_string)
    path = expand_home(raw, env)
    return rules, path if path.is_absolute() else (base / path).resolve(), fallback


def read_policy_file(path: Path, taken: set[str]) -> tuple[Rule, ...]:
    """The ``[[rule]]`` tables of a policy file; names in ``taken`` are already used."""
    if not path.is_file():
        raise StartupError(f"policy file not found: {path}")
    document = read_toml(path)
    lines = _Lines(path)
    unknown = sorted(set(document) - {"rule"})
    if unknown:
        where = lines.where(unknown[0]) if isinstance(document[unknown[0]], dict) else path
        raise StartupError(
            f"{where}: unknown key {unknown[0]} (a policy file holds [[rule]] tables)"
        )
    return _rules(document.get("rule", []), lines, "rule", set(taken), "[[rule]]")
