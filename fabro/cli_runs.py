"""`fabro runs ...`: the commands that drive a running server (cli.md §6).

Each command maps its flags and calls the SDK (fabro.client.FabroClient, or AsyncFabroClient
to follow a run); the server is found, and credentials chosen, as the SDK finds them
(fabro.auth.client.resolve_client_settings).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from fabro.cli_options import F, deprecated_alias, fail, option, take
from fabro.exit_codes import INTERRUPTED, USAGE

if TYPE_CHECKING:
    from fabro.client.runs import Output
    from fabro.client.sdk import FabroClient

LOCAL = "cli.toml [server] base_url, else the local `fabro serve`, else http://127.0.0.1:3000"


def client_options(*, key_alias: bool = True, data_dir: bool = True) -> Callable[[F], F]:
    """Where the server is and how to authenticate, shared by every `runs` command
    (``data_dir=False``: for a command whose --data-dir means something of its own)."""
    local = option(
        "--data-dir",
        metavar="DIR",
        doc_envvar="FABRO_DATA_DIR",
        show_default="server.toml data_dir, else ~/.fabro",
        help="Data directory of the local server: where it records its URL (server.json) "
        "and keeps its JWT key.",
    )
    decorators = [
        option("--server", metavar="URL", doc_envvar="FABRO_SERVER", show_default=LOCAL,
               help="The server's URL."),
        option("--token", metavar="TOKEN", doc_envvar="FABRO_TOKEN",
               show_default="cli.toml [server] token, else a 5-minute one minted from the "
               "local JWT private key",
               help="Bearer token."),
        option("--tls-cert", metavar="PATH", show_default="cli.toml [server.tls] cert",
               help="Client certificate for mutual TLS (with --tls-key)."),
        option("--tls-key", metavar="PATH", show_default="cli.toml [server.tls] key",
               help="The client certificate's private key."),
        option("--tls-ca", metavar="PATH",
               show_default="cli.toml [server.tls] ca, else the system trust store",
               help="CA bundle that verifies an https server."),
        local,
        deprecated_alias("--cert", "--tls-cert", "tls_cert"),
        deprecated_alias("--ca", "--tls-ca", "tls_ca"),
    ]  # fmt: skip
    if not data_dir:
        decorators.remove(local)
    if key_alias:
        decorators.append(deprecated_alias("--key", "--tls-key", "tls_key"))

    def apply(command: F) -> F:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


def connection_of(params: dict[str, Any]) -> dict[str, Any]:
    """The SDK client's arguments from the `client_options` flags."""
    return {
        "server": params.pop("server"),
        "token": params.pop("token"),
        "cert": take(params, "tls_cert"),
        "key": take(params, "tls_key"),
        "ca": take(params, "tls_ca"),
        "data_dir": params.pop("data_dir"),
    }


def client_call(
    connection: dict[str, Any],
    call: Callable[[FabroClient, Output], int],
    *,
    usage_on_400: bool = False,
) -> None:
    """Open a FabroClient on ``connection`` (``connection_of``'s arguments), run
    ``call(client, output)``, exit with its status.

    ``usage_on_400``: a 400 means the request itself was wrong (`runs start`: a workflow that
    does not validate), which is a usage error like `fabro run`'s.
    """
    from fabro.client.answers import NoSuchOption
    from fabro.client.errors import FabroApiError, FabroClientError
    from fabro.client.logs import NoSuchStage
    from fabro.client.runs import Output
    from fabro.client.sdk import FabroClient

    client = FabroClient(**connection)
    try:
        with client:
            code = call(client, Output(sys.stdout, sys.stderr))
    except FabroClientError as exc:
        usage = usage_on_400 and isinstance(exc, FabroApiError) and exc.status == 400
        fail(str(exc), USAGE if usage else 1)
    except (NoSuchOption, NoSuchStage) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        click.echo("", err=True)
        sys.exit(INTERRUPTED)
    sys.exit(code)


RUN_ID = click.argument("run_id", metavar="RUN", help="The run's id.")


@click.group()
def runs() -> None:
    """Drive a running server: start, follow, answer, pause, cancel and read runs."""


@runs.command(name="list")
@option(
    "--status",
    metavar="S[,S]",
    show_default="every status",
    help="Only runs with these statuses (fabro's, comma-separated).",
)
@option(
    "--workflow",
    metavar="SLUG",
    show_default="every workflow",
    help="Only runs of this registry workflow.",
)
@option(
    "--limit", metavar="N", type=click.IntRange(1, 100), show_default="20", help="Runs per page."
)
@option("--offset", metavar="N", type=click.IntRange(min=0), show_default="0", help="Runs to skip.")
@option("--json", "as_json", is_flag=True, help="Print the `data` array as JSON.")
@client_options()
def runs_list(**params: Any) -> None:
    """List runs, newest first; a run waiting at a human gate shows as `waiting`."""
    from fabro.client import runs as commands

    options = {k: params.pop(k) for k in ("status", "workflow", "limit", "offset", "as_json")}
    client_call(connection_of(params), lambda c, o: commands.list_runs(c, o, **options))


@runs.command(name="show")
@RUN_ID
@option("--json", "as_json", is_flag=True, help="Print the RunStatusResponse as JSON.")
@client_options()
def runs_show(run_id: str, as_json: bool, **params: Any) -> None:
    """Show a run, the question it waits on, and its stages."""
    from fabro.client import runs as commands

    client_call(
        connection_of(params), lambda c, o: commands.show_run(c, o, run_id, as_json=as_json)
    )


@runs.command(name="start")
@click.argument("workflow", metavar="FILE|WORKFLOW",
                help="A workflow file (.dot, .fabro or a .toml run configuration) sent as "
                "its source, with its folder's @file references read here; else the name of "
                "a workflow in the server's registry.")  # fmt: skip
@option(
    "--var",
    "var_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Variable (repeatable); wins over the run configuration's.",
)
@option(
    "--goal",
    metavar="TEXT",
    show_default="the workflow's",
    help="Goal override; @path reads a local file.",
)
@option(
    "--label", "label_options", multiple=True, metavar="KEY=VALUE", help="Run label (repeatable)."
)
@option(
    "--follow",
    is_flag=True,
    help="Show live progress and answer human gates here (one stdin line per gate) "
    "until the run ends; exit with the run's status.",
)
@option(
    "-v",
    "--verbose",
    is_flag=True,
    help="With --follow: stream command output and tool calls live.",
)
@option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the run as JSON (with --follow: its final state).",
)
@client_options()
def runs_start(
    workflow: str,
    var_options: tuple[str, ...],
    goal: str | None,
    label_options: tuple[str, ...],
    follow: bool,
    verbose: bool,
    as_json: bool,
    **params: Any,
) -> None:
    """Start a run on the server; print its id (or follow it with --follow)."""
    from fabro.client.start import start_request
    from fabro.workflow.errors import WorkflowSourceError

    try:
        body, warnings = start_request(
            workflow, goal=goal, var_options=var_options, label_options=label_options
        )
    except WorkflowSourceError as exc:
        fail(str(exc), USAGE)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    connection = connection_of(params)
    client_call(
        connection,
        lambda c, o: _start(
            c, o, connection, body, follow=follow, verbose=verbose, as_json=as_json
        ),
        usage_on_400=True,
    )


def _start(
    client: FabroClient,
    output: Output,
    connection: dict[str, Any],
    body: dict[str, Any],
    *,
    follow: bool,
    verbose: bool,
    as_json: bool,
) -> int:
    import json

    from fabro.client.api import plain
    from fabro.client.follow import follow_run
    from fabro.client.sdk import AsyncFabroClient
    from fabro.workflow.diagnostics import Diagnostic

    run = plain(client.start_run(**body))
    for warning in run.get("warnings") or []:
        try:
            output.note(Diagnostic.from_json(warning).format())
        except (KeyError, TypeError, ValueError):
            output.note(f"warning: {warning}")
    if not follow:
        output.line(json.dumps(run) if as_json else run["id"])
        return 0
    output.note(f"Run: {run['id']}  ({client.settings.base_url}/runs/{run['id']})")
    return follow_run(
        lambda: AsyncFabroClient(**connection), run["id"], verbose=verbose, as_json=as_json
    )


@runs.command(name="cancel")
@RUN_ID
@client_options()
def runs_cancel(run_id: str, **params: Any) -> None:
    """Cancel a run."""
    from fabro.client import runs as commands

    client_call(connection_of(params), lambda c, o: commands.transition(c, o, run_id, "cancel"))


@runs.command(name="pause")
@RUN_ID
@client_options()
def runs_pause(run_id: str, **params: Any) -> None:
    """Pause a run at its next stage boundary."""
    from fabro.client import runs as commands

    client_call(connection_of(params), lambda c, o: commands.transition(c, o, run_id, "pause"))


@runs.command(name="unpause")
@RUN_ID
@client_options()
def runs_unpause(run_id: str, **params: Any) -> None:
    """Let a paused run go on."""
    from fabro.client import runs as commands

    client_call(connection_of(params), lambda c, o: commands.transition(c, o, run_id, "unpause"))


@runs.command(name="events")
@RUN_ID
@option(
    "--after", metavar="N", type=click.IntRange(min=0), default=0, help="Start after this event id."
)
@option("--json", "as_json", is_flag=True, help='One `{"id", "data"}` object per line.')
@client_options()
def runs_events(run_id: str, after: int, as_json: bool, **params: Any) -> None:
    """Print a run's events until it has no more, across dropped connections and restarts."""
    from fabro.client import runs as commands

    client_call(
        connection_of(params),
        lambda c, o: commands.follow_events(c, o, run_id, after=after, as_json=as_json),
    )


@runs.command(name="logs")
@RUN_ID
@click.argument(
    "stage",
    required=False,
    help="A stage id, or a node id (every visit of it); default: every stage.",
)
@option(
    "--artifact",
    "names",
    multiple=True,
    metavar="NAME",
    show_default="stdout.log, stderr.log, response.md",
    help="Artifact to show (repeatable).",
)
@option(
    "--tail",
    metavar="N",
    type=click.IntRange(min=1),
    help="Only the last N lines of each artifact (then new ones with --follow).",
)
@option("-f", "--follow", is_flag=True, help="Keep printing new output until the run ends.")
@client_options()
def runs_logs(
    run_id: str,
    stage: str | None,
    names: tuple[str, ...],
    tail: int | None,
    follow: bool,
    **params: Any,
) -> None:
    """Print what a run's stages wrote: command output, LLM responses."""
    from fabro.client.logs import show_logs

    client_call(
        connection_of(params),
        lambda c, o: show_logs(
            c, o.out, run_id, stage=stage, names=names, tail=tail, follow=follow
        ),
    )


@runs.command(name="answer")
@RUN_ID
@click.argument("qid", metavar="QID", help="The question's id (see `fabro runs show`).")
@option("--option-key", metavar="KEY", help="The chosen option's key (any case).")
@option("--option-keys", metavar="K1,K2", help="Several option keys, comma-separated.")
@option("--value", metavar="TEXT", help="Free text (or an option's key or label).")
@deprecated_alias("--key", "--option-key", "option_key")
@deprecated_alias("--keys", "--option-keys", "option_keys")
@client_options(key_alias=False)
def runs_answer(run_id: str, qid: str, value: str | None, **params: Any) -> None:
    """Answer a run's question with exactly one of --option-key, --option-keys, --value."""
    from fabro.client import runs as commands

    key, keys = take(params, "option_key"), take(params, "option_keys")
    if sum(x is not None for x in (key, keys, value)) != 1:
        raise click.UsageError("give exactly one of --option-key, --option-keys, --value")
    client_call(
        connection_of(params),
        lambda c, o: commands.answer_question(c, o, run_id, qid, key=key, keys=keys, value=value),
    )
