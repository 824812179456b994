"""`fabro secrets set|list|rm|rotate`: the server's secrets, through the SDK (issue 19).

`set` reads the value from standard input, or asks for it (hidden, twice) at a terminal;
never from the command line, which every user of the machine can read (`ps`).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from fabro.cli_options import fail, option, short_ts, table
from fabro.cli_runs import client_call, client_options, connection_of

if TYPE_CHECKING:
    from fabro.client.runs import Output
    from fabro.client.sdk import FabroClient

NAME = click.argument("name", metavar="NAME", help="The secret's name (an environment variable's).")


@click.group()
def secrets() -> None:
    """Set, list, delete and rotate the server's secrets (admin); values are never shown."""


@secrets.command(name="set")
@NAME
@client_options()
def secrets_set(name: str, **params: Any) -> None:
    """Set a secret; its value comes from standard input (or a hidden prompt at a terminal)."""
    value = _read_value()
    client_call(connection_of(params), lambda c, o: _set(c, o, name, value), usage_on_400=True)


def _read_value() -> str:
    if sys.stdin.isatty():
        value = str(click.prompt("Value", hide_input=True, confirmation_prompt=True, err=True))
    else:
        value = sys.stdin.read()
        # `echo "$X" | fabro secrets set X` and a file's last line end with a line break that
        # is not part of the value.
        value = value.removesuffix("\n").removesuffix("\r")
    if not value:
        fail("no value: pipe it to standard input, or type it at the prompt", 2)
    return value


def _set(client: FabroClient, output: Output, name: str, value: str) -> int:
    item = client.set_secret(name, value)
    output.line(f"{item.name}: set (updated {item.updated_at})")
    return 0


@secrets.command(name="list")
@option("--json", "as_json", is_flag=True, help="Print the secrets as a JSON array.")
@client_options()
def secrets_list(as_json: bool, **params: Any) -> None:
    """List the secrets' names and dates, by name."""
    client_call(connection_of(params), lambda c, o: _list(c, o, as_json=as_json))


def _list(client: FabroClient, output: Output, *, as_json: bool) -> int:
    from fabro.client.api import plain

    items = plain(list(client.list_secrets()))
    if as_json:
        output.line(json.dumps(items))
        return 0
    rows = [("NAME", "CREATED", "UPDATED")]
    rows += [(i["name"], short_ts(i["created_at"]), short_ts(i["updated_at"])) for i in items]
    for line in table(rows):
        output.line(line)
    return 0


@secrets.command(name="rm")
@NAME
@client_options()
def secrets_rm(name: str, **params: Any) -> None:
    """Delete a secret (stages that name it fail from then on)."""

    def remove(client: FabroClient, output: Output) -> int:
        client.delete_secret(name)
        output.line(f"{name}: deleted")
        return 0

    client_call(connection_of(params), remove, usage_on_400=True)


@secrets.command(name="rotate")
@client_options()
def secrets_rotate(**params: Any) -> None:
    """Make a new key and re-seal every value under it, in one transaction."""

    def rotate(client: FabroClient, output: Output) -> int:
        done = client.rotate_secrets()
        output.line(f"rotated: {done.resealed} values re-sealed under key {done.key_id}")
        return 0

    client_call(connection_of(params), rotate)
