"""Roles: who may read, act and administer, from server.toml's [roles] (docs/governance.md).

Three roles, each allowed everything the one before it is: ``viewer`` reads, ``operator``
also acts (starts runs, answers questions, cancels, pauses, steers, chats), ``admin`` also
sees and changes the server's configuration. Every route of the API declares the least role
it needs (``fabro.api.routes``), and so does every page and form of the web UI.

The grammar::

    [roles]
    admin = ["alice"]                 # JWT usernames; "cn:NAME" only a client certificate's CN
    operator = ["bob", "cn:ci-runner"]
    viewer = ["carol"]
    default = "viewer"                # an authenticated identity listed nowhere: "viewer" (the
                                      # default), "operator", "admin" or "none" (403 everywhere)
    operators_own_runs_only = false   # true: an operator acts only on the runs it started

A bare name matches a JWT username and a certificate CN alike; ``cn:NAME`` only the CN of a
client certificate (mutual TLS), so a JWT cannot borrow a machine's role. A name may be in
one list only (``alice`` and ``cn:alice`` count as the same name: both match the CN alice).
Without a ``[roles]`` table every authenticated principal is admin, as before roles existed,
and so is the zero-config user. Authentication comes first: a role is only ever looked up for
a principal the authenticator chain accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from types import MappingProxyType
from typing import Any, Literal, cast

from fabro import config_values as valid
from fabro.auth.chain import Principal
from fabro.config_file import FileSource
from fabro.errors import Forbidden, StartupError

RoleName = Literal["viewer", "operator", "admin"]


class Role(IntEnum):
    """What a principal may do; a larger value may do everything a smaller one may."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> RoleName:
        return cast("RoleName", self.name.lower())


CN_PREFIX = "cn:"
LISTS = ("admin", "operator", "viewer")
KEYS = (*LISTS, "default", "operators_own_runs_only")
NO_ROLE = "none"
NOT_OWNER = "Only the user who started this run (or an admin) may act on it."


@dataclass(frozen=True)
class RoleSettings:
    configured: bool = False  # False: no [roles] table, every authenticated principal is admin
    names: Mapping[str, Role] = field(default_factory=dict)  # a JWT username or a CN
    cns: Mapping[str, Role] = field(default_factory=dict)  # "cn:NAME": a certificate CN only
    default: Role | None = Role.VIEWER  # None: "none", an unlisted principal has no role
    operators_own_runs_only: bool = False

    def role_of(self, principal: Principal) -> Role | None:
        """The role of an authenticated principal; None when it has none (403 everywhere)."""
        if not self.configured:
            return Role.ADMIN
        if principal.method == "mtls" and principal.login in self.cns:
            return self.cns[principal.login]
        return self.names.get(principal.login, self.default)

    def check(self, needed: Role, principal: Principal) -> Role:
        """The principal's role when it is at least ``needed``; else Forbidden naming both."""
        role = self.role_of(principal)
        if role is None or role < needed:
            has = f"has {role.label}" if role is not None else "has no role"
            raise Forbidden(f"This needs the {needed.label} role; {principal.login} {has}.")
        return role

    def check_owner(self, role: Role, principal: Principal, started_by: str | None) -> None:
        """With operators_own_runs_only, refuse an operator acting on a run it did not start."""
        if self.operators_own_runs_only and role < Role.ADMIN and started_by != principal.login:
            raise Forbidden(NOT_OWNER)


def read_roles(source: FileSource, zero_config: bool) -> RoleSettings:
    """The [roles] table, checked key by key (StartupError naming file:line and the key)."""
    if zero_config or not source.has("roles"):
        return RoleSettings()
    table: dict[str, Any] = source.get("roles", _table)
    for key in table:
        if key not in KEYS:
            known = ", ".join(KEYS)
            raise StartupError(f"{source.where('roles.' + key)}: unknown key roles.{key} ({known})")
    names: dict[str, Role] = {}
    cns: dict[str, Role] = {}
    listed: dict[str, str] = {}  # a name (without cn:) -> the list it is in
    for key in LISTS:
        role = Role[key.upper()]
        for entry in source.get(f"roles.{key}", _names) if key in table else ():
            bare = entry.removeprefix(CN_PREFIX)
            other = listed.setdefault(bare, key)
            if other != key:
                raise StartupError(
                    f"{source.where(f'roles.{key}')}: {bare!r} is in both roles.{other} and "
                    f"roles.{key}; a name has one role"
                )
            (cns if entry.startswith(CN_PREFIX) else names)[bare] = role
    default = source.get("roles.default", _default) if "default" in table else Role.VIEWER
    own_runs = "operators_own_runs_only" in table and source.get(
        "roles.operators_own_runs_only", valid.boolean
    )
    return RoleSettings(
        configured=True,
        names=MappingProxyType(names),
        cns=MappingProxyType(cns),
        default=default,
        operators_own_runs_only=bool(own_runs),
    )


def _table(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise valid.Invalid("a table ([roles])")
    return value


def _names(value: Any) -> tuple[str, ...]:
    entries: tuple[str, ...] = valid.string_list(value)
    for entry in entries:
        bare = entry.removeprefix(CN_PREFIX)
        if not bare or bare != bare.strip():
            raise valid.Invalid('an array of names ("NAME" or "cn:NAME", no spaces around)')
    return entries


def _default(value: Any) -> Role | None:
    choice = valid.one_of(*(role.label for role in Role), NO_ROLE)(value)
    return None if choice == NO_ROLE else Role[str(choice).upper()]
