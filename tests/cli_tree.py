"""The click tree of `fabro`, walked once for the tests that check every command: its help
(test_cli_help.py), its docs (test_cli_docs.py) and its exit statuses."""

from __future__ import annotations

from collections.abc import Iterator

import click

from fabro.cli import cli


def walk(
    command: click.Command, path: tuple[str, ...] = ("fabro",)
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from walk(sub, (*path, name))


COMMANDS = list(walk(cli))
IDS = [" ".join(path) for path, _ in COMMANDS]


def visible_options(command: click.Command) -> list[click.Option]:
    return [
        p
        for p in command.params
        if isinstance(p, click.Option) and not p.hidden and p.name not in ("help", "version")
    ]
