"""The click tree as a whole: every command, argument and option is explained, shows its
default and environment variable, and each flag name means one thing."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import click
import pytest
from click._utils import UNSET  # what get_default() answers for an option without one
from click.testing import CliRunner

from fabro.cli import cli
from fabro.cli_options import DocOption
from fabro.config import OPTIONS
from fabro.exit_codes import EXIT_CODES
from tests.cli_tree import COMMANDS, IDS, visible_options

# Options whose value the settings layer (not click) may take from a variable: wherever the
# flag appears, its help must name that variable.
SETTINGS_VARIABLES = {
    "--data-dir": "FABRO_DATA_DIR",
    "--workflows-dir": "FABRO_WORKFLOWS_DIR",
    "--server": "FABRO_SERVER",
    "--token": "FABRO_TOKEN",
    "--private-key": "FABRO_JWT_PRIVATE_KEY",
    "--issuer": "FABRO_JWT_ISSUER",
}


def help_record(command: click.Command, param: click.Option) -> tuple[str, object]:
    """The help text click shows for ``param``, and its default."""
    with click.Context(command, info_name="fabro", show_default=True) as ctx:
        record = param.get_help_record(ctx)
        default = param.get_default(ctx, call=False)
    assert record is not None
    return record[1], default


def test_the_tree_is_what_the_brief_names() -> None:
    assert {" ".join(path) for path, _ in COMMANDS} >= {
        "fabro serve", "fabro run", "fabro validate", "fabro graph", "fabro token",
        "fabro certs init", "fabro completion", "fabro runs list", "fabro runs show",
        "fabro runs start", "fabro runs cancel", "fabro runs pause", "fabro runs unpause",
        "fabro runs events", "fabro runs answer", "fabro runs logs",
        "fabro receipts list", "fabro receipts show", "fabro receipts verify",
    }  # fmt: skip


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_command_argument_and_option_is_explained(
    path: tuple[str, ...], command: click.Command
) -> None:
    assert (command.help or "").strip(), f"{' '.join(path)} has no help"
    for param in command.params:
        if isinstance(param, click.Argument):
            assert (param.help or "").strip(), f"{' '.join(path)} {param.name}: no help"
    for opt in visible_options(command):
        where = f"{' '.join(path)} {opt.opts[0]}"
        assert isinstance(opt, DocOption), f"{where}: not a DocOption"
        assert (opt.help or "").strip(), f"{where}: no help"
        text, default = help_record(command, opt)
        has_default = default is not None and default is not UNSET
        if has_default and not opt.is_flag and not opt.multiple:
            assert "default: " in text, f"{where}: its default is not shown"
        variable = SETTINGS_VARIABLES.get(opt.opts[-1]) or opt.documented_envvar
        if variable is not None:
            assert opt.documented_envvar == variable, where
            assert f"env var: {variable}" in text, f"{where}: {variable} is not shown"


def test_one_meaning_per_flag_name() -> None:
    meanings: dict[str, set[str]] = defaultdict(set)
    for _, command in COMMANDS:
        for opt in visible_options(command):
            for flag in (*opt.opts, *opt.secondary_opts):
                meanings[flag].add(str(opt.name))
    several = {flag: names for flag, names in meanings.items() if len(names) > 1}
    assert several == {}
    assert "--key" not in meanings  # it was a TLS key, an answer option and a JWT key


def test_serve_flags_name_the_variables_of_the_settings_table() -> None:
    serve = cli.commands["serve"]
    by_flag = {opt.opts[0]: opt for opt in visible_options(serve)}
    for setting in OPTIONS:
        if setting.flag:
            flag = "--" + setting.flag.replace("_", "-")
            assert flag in by_flag, f"serve lacks {flag} ({setting.key})"
            option = by_flag[flag]
            assert isinstance(option, DocOption)
            assert option.documented_envvar == setting.env, flag


@pytest.mark.parametrize(
    ("args", "warning"),
    [
        (["token", "--key", "missing.pem"], "warning: --key is deprecated; use --private-key"),
        (["runs", "list", "--cert", "c", "--tls-key", "k"], "--cert is deprecated; use --tls-cert"),
        (["runs", "list", "--tls-cert", "c", "--key", "k"], "--key is deprecated; use --tls-key"),
        (["runs", "list", "--ca", "ca.pem"], "warning: --ca is deprecated; use --tls-ca"),
        (["runs", "answer", "R", "Q", "--key", "A"], "--key is deprecated; use --option-key"),
        (["runs", "answer", "R", "Q", "--keys", "A"], "--keys is deprecated; use --option-keys"),
    ],
)
def test_old_spellings_still_work_with_a_warning(
    args: list[str], warning: str, tmp_path: Path
) -> None:
    env = {"FABRO_SERVER": "http://127.0.0.1:9", "FABRO_TOKEN": "t", "HOME": str(tmp_path)}
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 1  # no such file, no server: the options were taken
    assert warning in result.output


def test_help_shows_the_exit_status_table() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    table = result.output.split("Exit status:\n", 1)[1]
    codes = [int(line.split()[0]) for line in table.splitlines() if line[:6].strip()]
    assert codes == [code for code, _ in EXIT_CODES]


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version(flag: str) -> None:
    from fabro import __version__

    result = CliRunner().invoke(cli, [flag])
    assert (result.exit_code, result.output) == (0, f"fabro {__version__}\n")
