"""The `fabro` command line (cli.md). Each command is a thin shell over the library."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from fabro import __version__
from fabro.errors import StartupError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fabro", message="%(prog)s %(version)s")
def cli() -> None:
    """Run AI and automation workflows written as Graphviz DOT graphs."""


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one `error:` line to stderr and exit (startup errors never show a traceback)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def main() -> None:
    try:
        cli(prog_name="fabro")
    except StartupError as exc:
        fail(str(exc))


# ---- commands are registered below, one section per capability ----


# ---- authentication tooling: `fabro token`, `fabro certs init` (config-and-auth.md §8) ----


@cli.command("token")
@click.option("--user", help="Token subject (default: the OS user).")
@click.option("--ttl", default="1h", show_default=True, help="Lifetime: 90s, 30m, 1h, 7d (≤ 30d).")
@click.option("--key", type=click.Path(path_type=Path), help="Ed25519 private key (PKCS#8 PEM).")
@click.option("--issuer", help="iss claim (default: the configured issuer).")
@click.option("--audience", help="aud claim (default: the configured audience, if any).")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Where keys/ lives.")
def token_command(
    user: str | None,
    ttl: str,
    key: Path | None,
    issuer: str | None,
    audience: str | None,
    data_dir: Path | None,
) -> None:
    """Print a bearer token signed with the server's JWT private key."""
    from fabro.auth.tokens import cli_token

    try:
        token = cli_token(
            user=user,
            ttl=ttl,
            key=key,
            issuer=issuer,
            audience=audience,
            data_dir=data_dir,
            env=os.environ,
        )
    except StartupError as exc:
        fail(str(exc))
    click.echo(token)


@cli.group("certs")
def certs_group() -> None:
    """Local certificates for mutual TLS."""


@certs_group.command("init")
@click.option(
    "--dir", "directory", default="certs", show_default=True, type=click.Path(path_type=Path)
)
@click.option(
    "--client-cn", "client_cns", multiple=True, help="Client certificate CN (repeatable)."
)
@click.option("--days", default=825, show_default=True, type=click.IntRange(min=1))
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def certs_init_command(
    directory: Path, client_cns: tuple[str, ...], days: int, force: bool
) -> None:
    """Create a local CA, a server certificate for localhost and client certificates."""
    import getpass

    from fabro.auth.certs import CertsExistError, init_certs, toml_snippets

    try:
        files = init_certs(directory, client_cns or (getpass.getuser(),), days=days, force=force)
    except CertsExistError as exc:
        fail(f"{exc} already exists; pass --force to overwrite")
    except ValueError as exc:
        fail(str(exc))
    click.echo(f"Created certificates in {files.directory}")
    click.echo("")
    click.echo(toml_snippets(files), nl=False)


# ---- serve (cli.md §1) ----


@cli.command()
@click.option("--host", help="Bind address [env FABRO_HOST; default 127.0.0.1].")
@click.option("--port", type=int, help="Port [env FABRO_PORT; default 3000].")
@click.option("--config", "config_path", help="server.toml [env FABRO_CONFIG].")
@click.option("--data-dir", help="Data directory [env FABRO_DATA_DIR; default ~/.fabro].")
@click.option("--max-concurrent-runs", type=int, help="Runs executing at once [default 5].")
@click.option("--model", help="Server default model [env FABRO_MODEL].")
@click.option("--provider", help="Server default provider [env FABRO_PROVIDER].")
@click.option("--dry-run", is_flag=True, default=None, help="Simulated LLMs, commands skipped.")
def serve(config_path: str | None, **flags: Any) -> None:
    """Run the HTTP server."""
    import asyncio
    import os

    from fabro.config import KNOWN_PROVIDERS, default_config_path, load_dotenv, load_settings
    from fabro.process import tune_collector
    from fabro.server import configure_logging
    from fabro.server import serve as run_server

    if flags.get("provider") is not None and flags["provider"] not in KNOWN_PROVIDERS:
        raise click.BadParameter(
            f"must be one of {', '.join(KNOWN_PROVIDERS)}", param_hint="'--provider'"
        )
    load_dotenv(default_config_path(os.environ).parent / ".env", os.environ)
    loaded = load_settings(config_path, os.environ, flags)
    configure_logging(loaded.settings.log_level)
    for warning in loaded.warnings:
        click.echo(f"warning: {warning}", err=True)
    tune_collector()
    try:
        asyncio.run(run_server(loaded.settings, flags=flags))
    except KeyboardInterrupt:
        pass


# ---- workflow language: `fabro validate`, `fabro graph` (cli.md §3, §4) ----
# Logic lives in fabro.workflow.commands; these functions only map flags and print.


def _workflow_registry(workflows_dir: str | None, data_dir: str | None) -> Path:
    from fabro.workflow.source import registry_dir

    return registry_dir(
        Path(workflows_dir) if workflows_dir else None, Path(data_dir) if data_dir else None
    )


def _finish(exit_code: int, stdout: bytes, stderr: list[str]) -> None:
    for line in stderr:
        click.echo(line, err=True)
    if stdout:
        sys.stdout.flush()
        sys.stdout.buffer.write(stdout)
        sys.stdout.buffer.flush()
    sys.exit(exit_code)


@cli.command()
@click.argument("workflow")
@click.option("--var", "var_options", multiple=True, metavar="KEY=VALUE", help="Variable.")
@click.option("--goal", help="Goal override (may be @file).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option("--workflows-dir", help="Workflow registry [env FABRO_WORKFLOWS_DIR].")
@click.option("--data-dir", help="Data directory [env FABRO_DATA_DIR; default ~/.fabro].")
def validate(
    workflow: str,
    var_options: tuple[str, ...],
    goal: str | None,
    as_json: bool,
    workflows_dir: str | None,
    data_dir: str | None,
) -> None:
    """Parse and validate a workflow."""
    from fabro.workflow.commands import validate_command

    registry = _workflow_registry(workflows_dir, data_dir)
    result = validate_command(
        workflow, var_options=var_options, goal=goal, as_json=as_json, registry=registry
    )
    _finish(result.exit_code, result.stdout, result.stderr)


@cli.command()
@click.argument("workflow")
@click.option("--format", "fmt", type=click.Choice(["svg", "png"]), default="svg")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Output file.")
@click.option("--var", "var_options", multiple=True, metavar="KEY=VALUE", help="Variable.")
@click.option("--workflows-dir", help="Workflow registry [env FABRO_WORKFLOWS_DIR].")
@click.option("--data-dir", help="Data directory [env FABRO_DATA_DIR; default ~/.fabro].")
def graph(
    workflow: str,
    fmt: str,
    output: str | None,
    var_options: tuple[str, ...],
    workflows_dir: str | None,
    data_dir: str | None,
) -> None:
    """Render a workflow with Graphviz."""
    from fabro.workflow.commands import graph_command

    result = graph_command(
        workflow,
        fmt=fmt,
        output=Path(output) if output else None,
        var_options=var_options,
        stdout_is_tty=sys.stdout.isatty(),
        registry=_workflow_registry(workflows_dir, data_dir),
    )
    _finish(result.exit_code, result.stdout, result.stderr)


# ---- end of workflow language section ----


# ---- standalone runs: `fabro run` (cli.md §2) ----


@cli.command(name="run")
@click.argument("workflow", required=False)
@click.option("--goal", help="Goal override; @file reads a file.")
@click.option("--var", "var_options", multiple=True, metavar="KEY=VALUE", help="Variable.")
@click.option("--label", "label_options", multiple=True, metavar="KEY=VALUE", help="Run label.")
@click.option("--model", help="Run-level model override.")
@click.option("--provider", help="Run-level provider override.")
@click.option("--dry-run", is_flag=True, help="Simulated LLM backend, command nodes skipped.")
@click.option("--auto-approve", is_flag=True, help="Answer human gates automatically.")
@click.option("--resume", metavar="RUN_ID", help="Continue an interrupted run.")
@click.option("--workflows-dir", type=click.Path(path_type=Path), help="Registry folder.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Data directory.")
@click.option("-v", "--verbose", is_flag=True, help="Also print tool calls and responses.")
@click.option("--json", "as_json", is_flag=True, help="Print the final run as JSON.")
def run_command(
    workflow: str | None, data_dir: Path | None, resume: str | None, **flags: Any
) -> None:
    """Run a workflow standalone, in this process."""
    from fabro.standalone.run import RunOptions, data_dir_for, run_workflow

    if (workflow is None) == (resume is None):
        raise click.UsageError("give WORKFLOW, or --resume RUN_ID without WORKFLOW")
    options = RunOptions(
        data_dir=data_dir_for(data_dir, os.environ),
        workflow=workflow,
        resume=resume,
        **flags,
    )
    sys.exit(run_workflow(options))


# ---- client commands: `fabro runs ...` (cli.md §6) ----


def _client_options(command: Any, *, key_flags: tuple[str, ...] = ("--key", "--tls-key")) -> Any:
    for option in reversed(
        (
            click.option("--server", help="Server URL [env FABRO_SERVER; cli.toml]."),
            click.option("--token", help="Bearer token [env FABRO_TOKEN; cli.toml]."),
            click.option("--cert", help="Client certificate (with its key)."),
            click.option(*key_flags, "key_file", help="Client certificate key."),
            click.option("--ca", help="CA bundle to verify the server."),
        )
    ):
        command = option(command)
    return command


def _answer_client_options(command: Any) -> Any:
    # `runs answer` spends --key on the option key (cli.md), so its certificate key is --tls-key.
    return _client_options(command, key_flags=("--tls-key",))


def _client_call(params: dict[str, Any], call: Any) -> None:
    """Resolve client settings, run ``call(settings, output)``, exit with its status."""
    from fabro.auth.client import resolve_client_settings
    from fabro.client.runs import ApiError, Output

    settings = resolve_client_settings(
        server=params.pop("server"),
        token=params.pop("token"),
        cert=params.pop("cert"),
        key=params.pop("key_file"),
        ca=params.pop("ca"),
    )
    try:
        code = call(settings, Output(sys.stdout, sys.stderr))
    except ApiError as exc:
        fail(str(exc))
    sys.exit(code)


@cli.group()
def runs() -> None:
    """Talk to a running server."""


@runs.command(name="list")
@click.option("--status", help="Comma-separated statuses.")
@click.option("--workflow", help="Registry workflow slug.")
@click.option("--limit", type=int)
@click.option("--offset", type=int)
@click.option("--json", "as_json", is_flag=True)
@_client_options
def runs_list(**params: Any) -> None:
    """List runs, newest first."""
    from fabro.client import runs as client

    options = {k: params.pop(k) for k in ("status", "workflow", "limit", "offset", "as_json")}
    _client_call(params, lambda s, o: client.list_runs(s, o, **options))


@runs.command(name="show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True)
@_client_options
def runs_show(run_id: str, as_json: bool, **params: Any) -> None:
    """Show a run and its stages."""
    from fabro.client import runs as client

    _client_call(params, lambda s, o: client.show_run(s, o, run_id, as_json=as_json))


@runs.command(name="cancel")
@click.argument("run_id")
@_client_options
def runs_cancel(run_id: str, **params: Any) -> None:
    """Cancel a run."""
    from fabro.client import runs as client

    _client_call(params, lambda s, o: client.cancel_run(s, o, run_id))


@runs.command(name="events")
@click.argument("run_id")
@click.option("--after", type=int, default=0, help="Start after this event id.")
@click.option("--json", "as_json", is_flag=True)
@_client_options
def runs_events(run_id: str, after: int, as_json: bool, **params: Any) -> None:
    """Follow a run's events until its stream ends."""
    from fabro.client import runs as client

    _client_call(
        params, lambda s, o: client.follow_events(s, o, run_id, after=after, as_json=as_json)
    )


@runs.command(name="answer")
@click.argument("run_id")
@click.argument("qid")
@click.option("--key", "answer_key", help="Option key.")
@click.option("--keys", help="Comma-separated option keys.")
@click.option("--value", help="Free text (or an option key/label).")
@_answer_client_options
def runs_answer(
    run_id: str,
    qid: str,
    answer_key: str | None,
    keys: str | None,
    value: str | None,
    **params: Any,
) -> None:
    """Answer a run's question."""
    from fabro.client import runs as client

    if sum(x is not None for x in (answer_key, keys, value)) != 1:
        raise click.UsageError("give exactly one of --key, --keys, --value")
    _client_call(
        params,
        lambda s, o: client.answer_question(
            s, o, run_id, qid, key=answer_key, keys=keys, value=value
        ),
    )
