"""Roles: viewer, operator, admin, from server.toml's [roles] (docs/governance.md).

STUB: the roles helper replaces this module.
"""

from __future__ import annotations

from dataclasses import dataclass

from fabro.config_file import FileSource


@dataclass(frozen=True)
class RoleSettings:
    configured: bool = False  # False: no [roles] table, every authenticated principal is admin


def read_roles(source: FileSource, zero_config: bool) -> RoleSettings:
    return RoleSettings()
