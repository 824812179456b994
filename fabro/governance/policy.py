"""The policy: rules over actions, fail-closed when configured (docs/governance.md).

STUB: the policy helper replaces this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fabro.config_file import FileSource


@dataclass(frozen=True)
class PolicySettings:
    configured: bool = False


def read_policy(source: FileSource, base: Path, env: Mapping[str, str]) -> PolicySettings:
    return PolicySettings()
