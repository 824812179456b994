"""The exit statuses of every `fabro` command: one table, shown by `fabro --help` and in
docs/cli.md (a test keeps the three in step)."""

from __future__ import annotations

import textwrap
from typing import Final

SUCCESS: Final = 0
FAILED: Final = 1
USAGE: Final = 2
DETACHED: Final = 3
INTERRUPTED: Final = 130

EXIT_CODES: Final[tuple[tuple[int, str], ...]] = (
    (SUCCESS, "success; for `run` and `runs start --follow`: the run completed"),
    (
        FAILED,
        "failure: the run failed; the workflow does not validate (`validate`, `graph`); the "
        "server answered an error or cannot be reached; `serve` could not start",
    ),
    (
        USAGE,
        "usage error: an unknown command or option, a missing or malformed argument, a "
        "workflow that cannot be found or, for `run` and `runs start`, that does not validate",
    ),
    (
        DETACHED,
        "`runs start --follow`: stdin ended before a gate was answered; the run waits on "
        "the server",
    ),
    (
        INTERRUPTED,
        "interrupted by Ctrl-C, or the run was cancelled (`fabro run` cancels its run; "
        "`--follow` only stops following)",
    ),
)


def help_epilog() -> str:
    """The table as the epilog of `fabro --help` (`\\b` keeps click from rewrapping it)."""
    rows = [
        textwrap.fill(meaning, 78, initial_indent=f"  {code:<4} ", subsequent_indent=" " * 7)
        for code, meaning in EXIT_CODES
    ]
    return "\b\nExit status:\n" + "\n".join(rows)
