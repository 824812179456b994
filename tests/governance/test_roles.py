"""The [roles] reader: its grammar, its errors (file:line and key) and its defaults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fabro.auth.chain import Principal
from fabro.config_file import FileSource, read_toml
from fabro.errors import Forbidden, StartupError
from fabro.governance.roles import NOT_OWNER, Role, RoleSettings, read_roles

GRAMMAR = """\
port = 3000

[roles]
admin = ["alice"]
operator = ["bob", "cn:ci-runner"]
viewer = ["carol"]
default = "viewer"
operators_own_runs_only = false
"""


def roles_of(tmp_path: Path, text: str, zero_config: bool = False) -> RoleSettings:
    path = tmp_path / "server.toml"
    path.write_text(text, encoding="utf-8")
    return read_roles(FileSource(path, read_toml(path)), zero_config)


def failure(tmp_path: Path, text: str) -> str:
    with pytest.raises(StartupError) as caught:
        roles_of(tmp_path, text)
    return str(caught.value)


def jwt(login: str) -> Principal:
    return Principal(login, "jwt")


def cert(cn: str) -> Principal:
    return Principal(cn, "mtls")


def test_the_grammar_maps_names_to_roles(tmp_path: Path) -> None:
    roles = roles_of(tmp_path, GRAMMAR)
    assert roles.configured
    assert roles.role_of(jwt("alice")) is Role.ADMIN
    assert roles.role_of(jwt("bob")) is Role.OPERATOR
    assert roles.role_of(jwt("carol")) is Role.VIEWER
    assert roles.role_of(jwt("dave")) is Role.VIEWER  # default
    assert Role.VIEWER < Role.OPERATOR < Role.ADMIN
    assert not roles.operators_own_runs_only


def test_a_bare_name_matches_a_cn_and_cn_prefix_matches_only_a_cn(tmp_path: Path) -> None:
    roles = roles_of(tmp_path, GRAMMAR)
    assert roles.role_of(cert("alice")) is Role.ADMIN
    assert roles.role_of(cert("ci-runner")) is Role.OPERATOR
    # A JWT whose username is the machine's CN does not borrow its role.
    assert roles.role_of(jwt("ci-runner")) is Role.VIEWER
    assert roles.role_of(jwt("cn:ci-runner")) is Role.VIEWER


def test_without_a_roles_table_everyone_is_admin(tmp_path: Path) -> None:
    roles = roles_of(tmp_path, "port = 3000\n")
    assert not roles.configured
    assert roles.role_of(jwt("anyone")) is Role.ADMIN
    assert roles.role_of(cert("any-cn")) is Role.ADMIN


def test_the_zero_config_user_is_admin(tmp_path: Path) -> None:
    roles = read_roles(FileSource(None, {}), zero_config=True)
    assert roles.role_of(jwt("me")) is Role.ADMIN


@pytest.mark.parametrize(
    ("default", "role"),
    [("viewer", Role.VIEWER), ("operator", Role.OPERATOR), ("admin", Role.ADMIN), ("none", None)],
)
def test_default_gives_an_unlisted_identity_its_role(
    tmp_path: Path, default: str, role: Role | None
) -> None:
    roles = roles_of(tmp_path, f'[roles]\nadmin = ["alice"]\ndefault = "{default}"\n')
    assert roles.role_of(jwt("stranger")) is role
    assert roles.role_of(jwt("alice")) is Role.ADMIN


def test_an_empty_table_makes_everyone_a_viewer(tmp_path: Path) -> None:
    roles = roles_of(tmp_path, "[roles]\n")
    assert roles.configured
    assert roles.role_of(jwt("alice")) is Role.VIEWER
    assert not roles.operators_own_runs_only


def test_operators_own_runs_only(tmp_path: Path) -> None:
    roles = roles_of(
        tmp_path, '[roles]\nadmin = ["alice"]\noperator = ["bob"]\noperators_own_runs_only = true\n'
    )
    assert roles.operators_own_runs_only
    roles.check_owner(Role.OPERATOR, jwt("bob"), "bob")
    roles.check_owner(Role.ADMIN, jwt("alice"), "bob")
    with pytest.raises(Forbidden, match=re.escape(NOT_OWNER)):
        roles.check_owner(Role.OPERATOR, jwt("bob"), "alice")
    with pytest.raises(Forbidden):
        roles.check_owner(Role.OPERATOR, jwt("bob"), None)  # a run nobody started over the API


def test_check_names_the_role_needed_and_the_role_held(tmp_path: Path) -> None:
    roles = roles_of(tmp_path, '[roles]\noperator = ["bob"]\ndefault = "none"\n')
    assert roles.check(Role.VIEWER, jwt("bob")) is Role.OPERATOR
    with pytest.raises(Forbidden) as caught:
        roles.check(Role.ADMIN, jwt("bob"))
    assert caught.value.detail == "This needs the admin role; bob has operator."
    with pytest.raises(Forbidden) as caught:
        roles.check(Role.VIEWER, jwt("eve"))
    assert caught.value.detail == "This needs the viewer role; eve has no role."


def test_a_name_in_two_lists_is_an_error_naming_both(tmp_path: Path) -> None:
    message = failure(tmp_path, '[roles]\nadmin = ["alice"]\nviewer = ["carol", "alice"]\n')
    assert "server.toml:3:" in message
    assert "'alice'" in message and "roles.admin" in message and "roles.viewer" in message


def test_a_name_and_its_cn_form_in_two_lists_is_an_error(tmp_path: Path) -> None:
    message = failure(tmp_path, '[roles]\noperator = ["cn:ci"]\nviewer = ["ci"]\n')
    assert "server.toml:3:" in message and "roles.operator" in message


def test_a_name_twice_in_one_list_is_fine(tmp_path: Path) -> None:
    roles = roles_of(tmp_path, '[roles]\nadmin = ["alice", "alice"]\n')
    assert roles.role_of(jwt("alice")) is Role.ADMIN


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('admins = ["alice"]', "unknown key roles.admins"),
        ('default = "superuser"', "roles.default must be one of"),
        ('operators_own_runs_only = "x"', "roles.operators_own_runs_only must be true or false"),
        ('admin = "alice"', "roles.admin must be an array of strings"),
        ('viewer = ["cn:"]', "roles.viewer must be an array of names"),
        ('viewer = [""]', "roles.viewer must be an array of names"),
        ('viewer = [" carol"]', "roles.viewer must be an array of names"),
    ],
)
def test_a_bad_key_or_value_is_an_error_naming_file_line_and_key(
    tmp_path: Path, line: str, expected: str
) -> None:
    message = failure(tmp_path, f"port = 3000\n[roles]\n{line}\n")
    assert message.startswith(f"{tmp_path / 'server.toml'}:3: ")
    assert expected in message


def test_roles_that_is_no_table_is_an_error(tmp_path: Path) -> None:
    assert "roles must be a table" in failure(tmp_path, 'roles = "admin"\n')
