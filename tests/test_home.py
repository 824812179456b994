"""`~` is the home of the environment given, never the process's HOME (fabro/home.py)."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from fabro.home import expand_home, home_dir
from fabro.standalone.run import data_dir_for
from fabro.workflow.source import registry_dir


@pytest.fixture(autouse=True)
def process_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The process HOME is a folder no answer may come from."""
    elsewhere = tmp_path / "process-home"
    monkeypatch.setenv("HOME", str(elsewhere))
    return elsewhere


def test_home_is_the_env_home_else_the_account_home(tmp_path: Path) -> None:
    assert home_dir({"HOME": str(tmp_path)}) == tmp_path
    account = Path(pwd.getpwuid(os.getuid()).pw_dir)
    assert home_dir({}) == account
    assert home_dir({"HOME": ""}) == account


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("~", "HOME"),
        ("~/a/b", "HOME/a/b"),
        ("/abs/~/x", "/abs/~/x"),
        ("rel/x", "rel/x"),
        ("~no-such-user/x", "~no-such-user/x"),  # no such account: a relative name
    ],
)
def test_expand_home(tmp_path: Path, raw: str, expected: str) -> None:
    home = tmp_path / "home"
    assert expand_home(raw, {"HOME": str(home)}) == Path(expected.replace("HOME", str(home)))


def test_a_named_account_is_its_home_from_the_password_database(tmp_path: Path) -> None:
    account = pwd.getpwuid(os.getuid())
    got = expand_home(f"~{account.pw_name}/x", {"HOME": str(tmp_path)})
    assert got == Path(account.pw_dir) / "x"


def test_the_data_and_workflow_folders_of_fabro_run_and_validate(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"HOME": str(home)}
    assert data_dir_for(None, env) == home / ".fabro"
    assert data_dir_for(Path("~/flag"), env) == home / "flag"
    assert data_dir_for(None, {**env, "FABRO_DATA_DIR": "~/d"}) == home / "d"
    assert registry_dir(None, None, env) == home / ".fabro" / "workflows"
    assert registry_dir(None, None, {**env, "FABRO_DATA_DIR": "~/d"}) == home / "d" / "workflows"
    assert registry_dir(None, None, {**env, "FABRO_WORKFLOWS_DIR": "~/w"}) == home / "w"
    assert registry_dir(None, Path("~/d"), env) == home / "d" / "workflows"
