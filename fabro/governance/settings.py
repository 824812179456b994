"""The governance sections of server.toml, read together: [roles], [policy], [rate_limits]
and [idempotency]. Each section's module reads and checks its own keys (an unknown key there
is an error naming it, not a warning: a typo in a policy must not quietly allow)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fabro.config_file import FileSource
from fabro.governance.limits import (
    IdempotencySettings,
    RateLimitSettings,
    read_idempotency,
    read_rate_limits,
)
from fabro.governance.policy import PolicySettings, read_policy
from fabro.governance.roles import RoleSettings, read_roles

# Tables whose keys their own readers check (config.py's unknown-key warning skips them).
GOVERNANCE_TABLES = frozenset({"roles", "policy", "rate_limits", "idempotency"})


@dataclass(frozen=True)
class GovernanceSettings:
    roles: RoleSettings = field(default_factory=RoleSettings)
    policy: PolicySettings = field(default_factory=PolicySettings)
    rate_limits: RateLimitSettings = field(default_factory=RateLimitSettings)
    idempotency: IdempotencySettings = field(default_factory=IdempotencySettings)


def read_governance(
    source: FileSource, base: Path, env: Mapping[str, str], zero_config: bool
) -> GovernanceSettings:
    return GovernanceSettings(
        roles=read_roles(source, zero_config),
        policy=read_policy(source, base, env),
        rate_limits=read_rate_limits(source),
        idempotency=read_idempotency(source),
    )
