"""The `fabro` command line (cli.md). Each command is a thin shell over the library.

Options are DocOptions (fabro.cli_options): each has help text, shows its default and the
environment variable behind it; tests walk the whole tree for it (tests/test_cli_help.py),
and docs/cli.md documents every command and option (tests/test_cli_docs.py).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from fabro import __version__
from fabro.cli_audit import audit
from fabro.cli_keys import certs_group, token_command
from fabro.cli_options import DATA_DIR_DEFAULT, F, data_dir_option, fail, option
from fabro.cli_receipts import receipts
from fabro.cli_runs import runs
from fabro.cli_schedules import schedules
from fabro.cli_secrets import secrets
from fabro.cli_webhooks import webhooks
from fabro.errors import StartupError
from fabro.exit_codes import help_epilog

__all__ = ["cli", "fail", "main"]

GRAPH_FORMATS = ("svg", "png", "pdf")  # fabro.workflow.render.FILE_FORMATS, without importing it


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "show_default": True},
    epilog=help_epilog(),
)
@click.version_option(
    __version__, "-V", "--version", prog_name="fabro", message="%(prog)s %(version)s"
)
def cli() -> None:
    """Run AI and automation workflows written as Graphviz DOT graphs."""


def main() -> None:
    try:
        cli(prog_name="fabro")
    except StartupError as exc:
        fail(str(exc))


def _workflows_dir_option() -> Callable[[F], F]:
    return option(
        "--workflows-dir",
        metavar="DIR",
        doc_envvar="FABRO_WORKFLOWS_DIR",
        show_default="<data_dir>/workflows",
        help="Workflow registry: a folder per workflow.",
    )


def _var_option() -> Callable[[F], F]:
    return option(
        "--var", "var_options", multiple=True, metavar="KEY=VALUE",
        help="Variable (repeatable); wins over the run configuration's.",
    )  # fmt: skip


WORKFLOW_ARGUMENT = click.argument(
    "workflow",
    metavar="WORKFLOW",
    help="A .dot or .fabro file, a .toml run configuration, or a registry workflow's name.",
)


# ---- commands are registered below, one section per capability ----


# ---- authentication tooling: `fabro token`, `fabro certs init`, in fabro.cli_keys ----

cli.add_command(token_command)
cli.add_command(certs_group)


@cli.command("completion")
@click.argument(
    "shell", type=click.Choice(["bash", "zsh", "fish"]), metavar="SHELL", help="bash, zsh or fish."
)
def completion_command(shell: str) -> None:
    """Print the shell completion script for SHELL.

    \b
    bash:  eval "$(fabro completion bash)"      (in ~/.bashrc)
    zsh:   eval "$(fabro completion zsh)"       (in ~/.zshrc)
    fish:  fabro completion fish > ~/.config/fish/completions/fabro.fish
    """
    from click.shell_completion import get_completion_class

    completion_class = get_completion_class(shell)
    assert completion_class is not None  # the Choice admits only shells click knows
    ctx = click.get_current_context()
    script = completion_class(ctx.find_root().command, {}, "fabro", "_FABRO_COMPLETE")
    click.echo(script.source())


# ---- serve (cli.md §1) ----


# The settings layer (fabro.config.OPTIONS) reads these variables and server.toml; the flags
# only override, so click shows the variables and defaults without reading them.
@cli.command()
@option(
    "--host",
    metavar="HOST",
    doc_envvar="FABRO_HOST",
    show_default="127.0.0.1",
    help="Address to bind.",
)
@option(
    "--port",
    type=int,
    metavar="PORT",
    doc_envvar="FABRO_PORT",
    show_default="3000",
    help="Port to bind.",
)
@option(
    "--config",
    "config_path",
    metavar="PATH",
    doc_envvar="FABRO_CONFIG",
    show_default="~/.fabro/server.toml",
    help="Configuration file.",
)
@data_dir_option("Database, keys, run folders and server.json.")
@_workflows_dir_option()
@option(
    "--max-concurrent-runs",
    type=int,
    metavar="N",
    doc_envvar="FABRO_MAX_CONCURRENT_RUNS",
    show_default="5",
    help="Runs executing at once.",
)
@option(
    "--model",
    metavar="MODEL",
    doc_envvar="FABRO_MODEL",
    show_default="[llm] model",
    help="Default model (a catalog id or alias).",
)
@option(
    "--provider",
    metavar="NAME",
    doc_envvar="FABRO_PROVIDER",
    show_default="[llm] provider",
    help="Default LLM provider.",
)
@option(
    "--dry-run", is_flag=True, default=None, help="Simulated LLM backend; command stages skipped."
)
def serve(config_path: str | None, **flags: Any) -> None:
    """Run the HTTP server."""
    import asyncio
    import os

    from fabro.config import KNOWN_PROVIDERS, default_config_path, load_settings
    from fabro.config_file import load_dotenv
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
@WORKFLOW_ARGUMENT
@_var_option()
@option(
    "--goal",
    metavar="TEXT",
    show_default="the workflow's",
    help="Goal override; @path reads a local file.",
)
@option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@_workflows_dir_option()
@data_dir_option("Data directory (its workflows/ is the default registry).")
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
@WORKFLOW_ARGUMENT
@option(
    "--format",
    "fmt",
    type=click.Choice(GRAPH_FORMATS),
    show_default="svg",
    help="Image format on stdout; with -o, the file's extension names it.",
)
@option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Write the image to FILE (.svg, .png or .pdf) instead of stdout.",
)
@_var_option()
@_workflows_dir_option()
@data_dir_option("Data directory (its workflows/ is the default registry).")
def graph(
    workflow: str,
    fmt: str | None,
    output: str | None,
    var_options: tuple[str, ...],
    workflows_dir: str | None,
    data_dir: str | None,
) -> None:
    """Render a workflow with Graphviz."""
    from fabro.workflow.commands import graph_command

    result = graph_command(
        workflow,
        fmt=_graph_format(fmt, output),
        output=Path(output) if output else None,
        var_options=var_options,
        stdout_is_tty=sys.stdout.isatty(),
        registry=_workflow_registry(workflows_dir, data_dir),
    )
    _finish(result.exit_code, result.stdout, result.stderr)


def _graph_format(fmt: str | None, output: str | None) -> str:
    """--format for stdout; a file's format is the one its extension names."""
    if output is None:
        return fmt or "svg"
    extension = Path(output).suffix.lower().removeprefix(".")
    if extension not in GRAPH_FORMATS:
        raise click.BadParameter(
            f"{output!r} names no image format: use a .svg, .png or .pdf file",
            param_hint="'-o' / '--output'",
        )
    if fmt is not None and fmt != extension:
        raise click.UsageError(f"--format {fmt} contradicts {output}: give one of them")
    return extension


# ---- end of workflow language section ----


# ---- standalone runs: `fabro run` (cli.md §2) ----


@cli.command(name="run")
@click.argument(
    "workflow",
    required=False,
    metavar="[WORKFLOW]",
    help="A .dot or .fabro file, a .toml run configuration, or a registry "
    "workflow's name (omitted with --resume).",
)
@option(
    "--goal",
    metavar="TEXT",
    show_default="the workflow's",
    help="Goal override; @path reads a local file.",
)
@_var_option()
@option(
    "--label", "label_options", multiple=True, metavar="KEY=VALUE", help="Run label (repeatable)."
)
@option(
    "--model",
    metavar="MODEL",
    show_default="the workflow's, else the server default",
    help="Run-level model override.",
)
@option(
    "--provider",
    metavar="NAME",
    show_default="the workflow's, else the server default",
    help="Run-level provider override.",
)
@option("--dry-run", is_flag=True, help="Simulated LLM backend; command stages skipped.")
@option("--auto-approve", is_flag=True, help="Answer human gates automatically.")
@option("--resume", metavar="RUN_ID", help="Continue an interrupted run.")
@option(
    "--workflows-dir",
    type=click.Path(path_type=Path),
    metavar="DIR",
    doc_envvar="FABRO_WORKFLOWS_DIR",
    show_default="<data_dir>/workflows",
    help="Workflow registry: a folder per workflow.",
)
@option(
    "--data-dir",
    type=click.Path(path_type=Path),
    metavar="DIR",
    doc_envvar="FABRO_DATA_DIR",
    show_default=DATA_DIR_DEFAULT,
    help="Data directory (local.db and run folders).",
)
@option("-v", "--verbose", is_flag=True, help="Stream command output and tool calls live.")
@option("--json", "as_json", is_flag=True, help="Print the final run as JSON on stdout.")
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


# ---- client commands: `fabro runs ...` (cli.md §6), in fabro.cli_runs ----

cli.add_command(runs)

# ---- client commands: `fabro receipts ...` (issue 18), in fabro.cli_receipts ----

cli.add_command(receipts)

# ---- client commands: `fabro audit` (issue 19), in fabro.cli_audit ----

cli.add_command(audit)

# ---- client commands: `fabro secrets ...` (issue 19), in fabro.cli_secrets ----

cli.add_command(secrets)

# ---- client commands: `fabro webhooks ...` and `fabro schedules ...`, in their modules ----

cli.add_command(webhooks)
cli.add_command(schedules)
