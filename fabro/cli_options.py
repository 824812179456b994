"""What every `fabro` command's options share: help that shows defaults and environment
variables, deprecated spellings, and the one-line `error:` exit."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
from click.types import OptionHelpExtra

if TYPE_CHECKING:
    from fabro.client.runs import Output

F = TypeVar("F", bound=Callable[..., Any])

DATA_DIR_DEFAULT = "server.toml data_dir, else ~/.fabro"


class DocOption(click.Option):
    """An option whose help names the environment variable behind it even when the settings
    layer, not click, reads that variable (``doc_envvar``): one place resolves each setting,
    and the help still says where a value can come from."""

    def __init__(self, *args: Any, doc_envvar: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("show_envvar", True)
        super().__init__(*args, **kwargs)
        self.doc_envvar = doc_envvar

    def get_help_extra(self, ctx: click.Context) -> OptionHelpExtra:
        extra = super().get_help_extra(ctx)
        if self.doc_envvar and "envvars" not in extra:
            extra["envvars"] = (self.doc_envvar,)
        if isinstance(self.show_default, str):
            extra["default"] = self.show_default  # as written (click adds parentheses)
        return extra

    @property
    def documented_envvar(self) -> str | None:
        """The environment variable the help shows (read by click or by the settings layer)."""
        if isinstance(self.envvar, str):
            return self.envvar
        return self.doc_envvar


def option(*param_decls: str, **kwargs: Any) -> Callable[[F], F]:
    """click.option with DocOption."""
    return click.option(*param_decls, cls=DocOption, **kwargs)


def deprecated_alias(old: str, new: str, dest: str) -> Callable[[F], F]:
    """A hidden option ``old`` that still works for ``new``, with a warning; its value lands in
    ``<dest>_deprecated`` and ``take()`` merges it."""

    def warn(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is not None:
            click.echo(f"warning: {old} is deprecated; use {new}", err=True)
        return value

    return click.option(old, f"{dest}_deprecated", hidden=True, callback=warn, expose_value=True)


def take(params: MutableMapping[str, Any], dest: str) -> Any:
    """The value of option ``dest``, else of its deprecated alias."""
    value = params.pop(dest)
    alias = params.pop(f"{dest}_deprecated", None)
    return value if value is not None else alias


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one `error:` line to stderr and exit (errors never show a traceback)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def data_dir_option(help_text: str) -> Callable[[F], F]:
    """``--data-dir``, with what it holds for this command as its help."""
    return option(
        "--data-dir",
        metavar="DIR",
        doc_envvar="FABRO_DATA_DIR",
        show_default=DATA_DIR_DEFAULT,
        help=help_text,
    )


def listing_options(items: str, moments: str) -> Callable[[F], F]:
    """``--since``, ``--until`` and ``--limit`` of a command that lists ``items`` (newest
    first), whose times are those of ``moments`` ("records", "actions started")."""

    def apply(command: F) -> F:
        for decorate in reversed(
            (
                option(
                    "--since",
                    metavar="TIME",
                    help=f"Only {moments} at or after this date or RFC 3339 time.",
                ),
                option(
                    "--until",
                    metavar="TIME",
                    help=f"Only {moments} before this RFC 3339 time (a date: to its end).",
                ),
                option(
                    "--limit",
                    metavar="N",
                    type=click.IntRange(min=1),
                    default=50,
                    show_default="50",
                    help=f"Print at most N {items}.",
                ),
            )
        ):
            command = decorate(command)
        return command

    return apply


def table(rows: Sequence[Sequence[str]]) -> list[str]:
    """``rows`` (the header first) as aligned lines: each column but the last padded to its
    widest cell; the last, which may be long (a URL, an action), is left free."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    ]


def print_listing(
    output: Output,
    items: Sequence[Any],
    *,
    as_json: bool,
    header: tuple[str, ...],
    row: Callable[[Any], tuple[str, ...]],
) -> int:
    """``items`` as a JSON array, or as a table of ``header`` and each item's ``row``."""
    if as_json:
        from fabro.client.api import plain

        output.line(json.dumps(plain(list(items))))
        return 0
    for line in table([header, *map(row, items)]):
        output.line(line)
    return 0


def short_ts(value: str | None) -> str:
    """`2026-03-12T10:15:02.123Z` -> `2026-03-12T10:15:02Z` ("-" for none)."""
    return value[:19] + "Z" if value else "-"
