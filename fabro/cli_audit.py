"""`fabro audit`: the server's audit log (issue 19), asked through the SDK like `fabro runs`:
who changed what, who signed in, who was refused; `--verify` checks its hash chain."""

from __future__ import annotations

import json
from itertools import islice
from typing import TYPE_CHECKING, Any

import click

from fabro.cli_options import listing_options, option, short_ts, table
from fabro.cli_runs import client_call, client_options, connection_of

if TYPE_CHECKING:
    from fabro.client.runs import Output
    from fabro.client.sdk import FabroClient

FILTERS = ("principal", "action", "result", "since", "until")


@click.command()
@option("--principal", metavar="LOGIN", show_default="everyone", help="Only this principal's.")
@option(
    "--action",
    metavar="ACTION",
    show_default="every action",
    help="Only this action: an operationId (startRun, submitRunAnswer, ...) or ui.signin.*.",
)
@option(
    "--result",
    type=click.Choice(["ok", "refused", "failed"]),
    show_default="every result",
    help="Only this result: ok, refused (401, 403) or failed (any other error).",
)
@listing_options("records", "records")
@option("--verify", is_flag=True, help="Check the log's hash chain instead of listing it.")
@option("--json", "as_json", is_flag=True, help="Print the records (or the check) as JSON.")
@client_options()
def audit(**params: Any) -> None:
    """List the audit log, newest first (needs the admin role)."""
    filters = {name: params.pop(name) for name in FILTERS}
    limit, verify, as_json = params.pop("limit"), params.pop("verify"), params.pop("as_json")
    if verify:
        client_call(connection_of(params), lambda c, o: _verify(c, o, as_json=as_json))
        return
    client_call(
        connection_of(params),
        lambda c, o: _list(c, o, filters, limit=limit, as_json=as_json),
        usage_on_400=True,
    )


def _list(
    client: FabroClient, output: Output, filters: dict[str, Any], *, limit: int, as_json: bool
) -> int:
    from fabro.client.api import plain

    items = plain(list(islice(client.list_audit_logs(**filters), limit)))
    if as_json:
        output.line(json.dumps(items))
        return 0
    rows = [("AT", "PRINCIPAL", "ROLE", "ACTION", "STATUS", "RESULT", "CLIENT", "TARGET")]
    rows += [
        (
            short_ts(r["at"]), r["principal"] or "-", r["role"] or "-", r["action"],
            str(r["status"]), r["result"], r["client"] or "-", r["target"],
        )
        for r in items
    ]  # fmt: skip
    for line in table(rows):
        output.line(line)
    return 0


def _verify(client: FabroClient, output: Output, *, as_json: bool) -> int:
    from fabro.client.api import plain

    report = client.verify_audit_logs()
    if as_json:
        output.line(json.dumps(plain(report)))
    elif report.ok:
        head = (
            ""
            if report.head_seq is None
            else f"; head: record {report.head_seq} {report.head_hash}"
        )
        output.line(f"ok: {report.entries_checked} records intact{head}")
    else:
        output.note(
            f"error: audit log tampered with at record {report.bad_seq} ({report.problem}): "
            f"{report.detail}; {report.entries_checked} records before it are intact"
        )
    return 0 if report.ok else 1
