"""Rate limits and the idempotency window, from [rate_limits] and [idempotency].

STUB: the limits helper replaces this module.
"""

from __future__ import annotations

from dataclasses import dataclass

from fabro.config_file import FileSource


@dataclass(frozen=True)
class RateLimitSettings:
    enabled: bool = True


@dataclass(frozen=True)
class IdempotencySettings:
    window_s: int = 24 * 3600


def read_rate_limits(source: FileSource) -> RateLimitSettings:
    return RateLimitSettings()


def read_idempotency(source: FileSource) -> IdempotencySettings:
    return IdempotencySettings()
