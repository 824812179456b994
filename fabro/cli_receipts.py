"""`fabro receipts list|show|verify`: the record of what runs did on the host (issue 18).

`list` and `show` ask the server through the SDK, like `fabro runs`. `verify` asks the server
too, unless given a data directory: then it reads that directory's database itself, over a
read-only connection, so that an operator can check a stopped server's receipts (or check a
running one without trusting it).
"""

from __future__ import annotations

import json
import sys
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from fabro.cli_options import fail, listing_options, option, short_ts, table
from fabro.cli_runs import client_call, client_options, connection_of

if TYPE_CHECKING:
    from fabro.client.runs import Output
    from fabro.client.sdk import FabroClient
    from fabro.governance.receipts import VerifyReport

ACTION_WIDTH = 60  # of the action's first line in `list`
SHOWN = (
    "id", "run_id", "stage_id", "attempt", "kind", "action", "decision", "rule", "approver",
    "idempotency_key", "started_at", "outcome", "exit_status", "result_digest", "ended_at",
)  # fmt: skip


@click.group()
def receipts() -> None:
    """Read the receipts of the actions runs took, and check that none was tampered with."""


@receipts.command(name="list")
@option("--run", metavar="RUN", show_default="every run", help="Only this run's receipts.")
@option(
    "--kind",
    metavar="KIND",
    show_default="every kind",
    help="Only this action kind: command, shell, file_write, file_read or network.",
)
@option(
    "--decision",
    metavar="D",
    show_default="every decision",
    help="Only this decision: ALLOW, ALERT, APPROVE, BLOCK or DEDUP.",
)
@listing_options("receipts", "actions started")
@option("--json", "as_json", is_flag=True, help="Print the receipts as a JSON array.")
@client_options()
def receipts_list(**params: Any) -> None:
    """List receipts, newest first (every run's needs the admin role)."""
    names = ("run", "kind", "decision", "since", "until")
    filters = {name: params.pop(name) for name in names}
    limit, as_json = params.pop("limit"), params.pop("as_json")
    client_call(
        connection_of(params),
        lambda c, o: _list(c, o, filters, limit=limit, as_json=as_json),
        usage_on_400=True,
    )


def _list(
    client: FabroClient, output: Output, filters: dict[str, Any], *, limit: int, as_json: bool
) -> int:
    from fabro.client.api import plain

    if filters["run"] and not any(filters[name] for name in filters if name != "run"):
        found = client.list_run_receipts(filters["run"])  # a viewer may read a run's
    else:
        found = client.list_receipts(**filters)
    items = plain(list(islice(found, limit)))
    if as_json:
        output.line(json.dumps(items))
        return 0
    rows = [("ID", "STARTED", "RUN", "STAGE", "KIND", "DECISION", "OUTCOME", "ACTION")]
    rows += [
        (
            r["id"], short_ts(r["started_at"]), r["run_id"], r["stage_id"], r["kind"],
            r["decision"], r["outcome"] or "(no end)", _first_line(r["action"]),
        )
        for r in items
    ]  # fmt: skip
    for line in table(rows):
        output.line(line)
    return 0


def _first_line(action: str) -> str:
    line = action.splitlines()[0] if action else ""
    cut = len(line) > ACTION_WIDTH or "\n" in action
    return line[:ACTION_WIDTH] + ("…" if cut else "")


@receipts.command(name="show")
@click.argument("receipt_id", metavar="RECEIPT", help="The receipt's id.")
@option("--json", "as_json", is_flag=True, help="Print the receipt as JSON.")
@client_options()
def receipts_show(receipt_id: str, as_json: bool, **params: Any) -> None:
    """Show a receipt: the action, the policy's decision, and how it ended."""
    client_call(connection_of(params), lambda c, o: _show(c, o, receipt_id, as_json=as_json))


def _show(client: FabroClient, output: Output, receipt_id: str, *, as_json: bool) -> int:
    from fabro.client.api import plain

    receipt = plain(client.get_receipt(receipt_id))
    if as_json:
        output.line(json.dumps(receipt))
        return 0
    for name in SHOWN:
        value = receipt.get(name)
        if name == "outcome" and value is None:
            value = "(no end: the action began and never ended)"
        if value is not None and value != "":
            output.line(f"{name}: {value}")
    return 0


@receipts.command(name="verify")
@option(
    "--data-dir",
    metavar="DIR",
    envvar="FABRO_DATA_DIR",
    show_default="ask the server",
    help="Check this data directory's database directly (read-only), not through a server.",
)
@option("--json", "as_json", is_flag=True, help="Print the chain's report as JSON.")
@client_options(data_dir=False)
def receipts_verify(data_dir: str | None, as_json: bool, **params: Any) -> None:
    """Check the receipts' hash chain; exit 1 naming the first bad entry if it is broken."""
    if data_dir is None:
        connection = connection_of({**params, "data_dir": None})
        client_call(connection, lambda c, o: _report(_remote(c), o, as_json=as_json))
        return
    from fabro.client.runs import Output
    from fabro.storage.receipts import NoReceipts, verify_file

    try:
        report = verify_file(Path(data_dir) / "fabro.db")
    except NoReceipts as exc:
        fail(str(exc))
    sys.exit(_report(report, Output(sys.stdout, sys.stderr), as_json=as_json))


def _remote(client: FabroClient) -> VerifyReport:
    from fabro.governance.receipts import VerifyReport

    body = client.verify_receipts()
    return VerifyReport(
        ok=body.ok,
        entries_checked=body.entries_checked,
        head_seq=body.head_seq,
        head_hash=body.head_hash,
        bad_seq=body.bad_seq,
        problem=body.problem,
        detail=body.detail,
    )


def _report(report: VerifyReport, output: Output, *, as_json: bool) -> int:
    if as_json:
        from dataclasses import asdict

        output.line(json.dumps(asdict(report)))
    elif report.ok:
        head = (
            "" if report.head_seq is None else f"; head: entry {report.head_seq} {report.head_hash}"
        )
        output.line(f"ok: {report.entries_checked} entries intact{head}")
    else:
        output.note(
            f"error: receipts tampered with at entry {report.bad_seq} ({report.problem}): "
            f"{report.detail}; {report.entries_checked} entries before it are intact"
        )
    return 0 if report.ok else 1
