"""Retry policies and backoff (workflow-language.md §12.2)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from fabro.workflow.model import Graph, Node

MAX_DELAY_MS = 60_000


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int
    initial_delay_ms: int = 5000
    factor: float = 2.0

    def delay_ms(self, attempt: int, rng: random.Random | None = None) -> int:
        """Delay before attempt ``attempt + 1`` (``attempt`` is 1-based), with jitter."""
        base = min(self.initial_delay_ms * self.factor ** (attempt - 1), MAX_DELAY_MS)
        jitter = (rng or random).uniform(0.5, 1.5)
        return int(base * jitter)


PRESETS: dict[str, RetryPolicy] = {
    "none": RetryPolicy(1, 0, 1),
    "standard": RetryPolicy(5, 5000, 2),
    "aggressive": RetryPolicy(5, 500, 2),
    "linear": RetryPolicy(3, 500, 1),
    "patient": RetryPolicy(3, 2000, 3),
}


def asks_for_retries(node: Node) -> bool:
    """The node sets `max_retries` or a known `retry_policy` itself (not the graph default).

    Only then is a failed command exit, or a human gate that timed out with no default,
    attempted again: without it these fail at once, as in the original (fabro fix).
    """
    return node.max_retries is not None or node.retry_policy in PRESETS


def policy_for(graph: Graph, node: Node) -> RetryPolicy:
    """The node's preset if known, else `max_retries` (or the graph default) + 1 attempts."""
    preset = PRESETS.get(node.retry_policy or "")
    if preset is not None:
        return preset
    return RetryPolicy(graph.max_retries_for(node) + 1, 5000, 2)
