"""docs/cli.md documents the whole click tree: each command, option and environment variable,
and the exit status table of fabro.exit_codes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from fabro.cli_options import DocOption
from fabro.exit_codes import EXIT_CODES
from tests.cli_tree import COMMANDS, IDS, visible_options

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
_HEADING = re.compile(r"^(#{1,6}) (.*)$")


@dataclass(frozen=True)
class Section:
    level: int
    title: str
    body: str


def sections() -> list[Section]:
    found: list[Section] = []
    level, title, lines = 0, "", []
    in_code = False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        match = None if in_code else _HEADING.match(line)
        if match:
            found.append(Section(level, title, "\n".join(lines)))
            level, title, lines = len(match[1]), match[2], []
        else:
            lines.append(line)
    found.append(Section(level, title, "\n".join(lines)))
    return found


def documentation_of(path: tuple[str, ...]) -> str:
    """The text of the section whose heading names `` `fabro ...` ``, and of its parents."""
    name = f"`{' '.join(path)}`"
    all_sections = sections()
    for index, section in enumerate(all_sections):
        if name in section.title:
            texts = [section.title, section.body]
            level = section.level
            for parent in reversed(all_sections[:index]):
                if 0 < parent.level < level:
                    texts.append(parent.body)
                    level = parent.level
            return "\n".join(texts)
    raise AssertionError(f"docs/cli.md has no section for {name}")


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_command_and_option_is_documented(
    path: tuple[str, ...], command: click.Command
) -> None:
    if len(path) == 1 or path == ("fabro", "certs"):
        return  # the program itself and a group with one command
    text = documentation_of(path)
    for opt in visible_options(command):
        flag = max(opt.opts, key=len)
        assert f"`{flag}" in text, f"docs/cli.md: {' '.join(path)} does not document {flag}"


def test_every_environment_variable_is_documented() -> None:
    table = next(s.body for s in sections() if s.title == "Environment variables")
    variables = {
        opt.documented_envvar
        for _, command in COMMANDS
        for opt in visible_options(command)
        if isinstance(opt, DocOption) and opt.documented_envvar
    }
    assert variables
    for variable in variables:
        assert f"`{variable}`" in table, f"docs/cli.md does not list {variable}"


def test_the_exit_status_table_is_the_code_s() -> None:
    table = next(s.body for s in sections() if s.title == "Exit status")
    rows = re.findall(r"^\| (\d+) \| (.*) \|$", table, flags=re.MULTILINE)
    assert [(int(code), meaning) for code, meaning in rows] == list(EXIT_CODES)
