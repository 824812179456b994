"""What a stage asks of the secrets: the values of the names it needs, or which one is not set.

The engine knows this protocol, not the vault: `fabro run` and the tests give their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from fabro.events.redact import Redactor
from fabro.workflow.model import Graph, Node


class MissingSecret(Exception):
    """A secret a stage needs that is not set (or cannot be opened); the message says which
    and which stage."""

    def __init__(self, name: str, reason: str = "is not set") -> None:
        super().__init__(f"Secret '{name}' {reason}")
        self.name = name
        self.reason = reason

    def message(self, stage: str) -> str:
        return f"Secret '{self.name}' {self.reason} (stage '{stage}' needs it)."


class SecretSource(Protocol):
    async def values(self, names: Sequence[str]) -> dict[str, str]:
        """The value of each of ``names``; MissingSecret naming the first one missing."""
        ...


class NoSecrets:
    """A process without secrets: every name is missing."""

    async def values(self, names: Sequence[str]) -> dict[str, str]:
        if names:
            raise MissingSecret(names[0])
        return {}


class FixedSecrets:
    """Secrets given as a mapping (tests, and `fabro run`'s own environment)."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    async def values(self, names: Sequence[str]) -> dict[str, str]:
        for name in names:
            if name not in self._values:
                raise MissingSecret(name)
        return {name: self._values[name] for name in names}


class RedactedSecrets:
    """``source``'s values, each added to ``redactor`` as it is handed out: `fabro run` takes
    the secrets a stage names from your environment, and they are then redacted wherever
    that run's events, turns and files show them."""

    def __init__(self, source: SecretSource, redactor: Redactor) -> None:
        self.source = source
        self.redactor = redactor

    async def values(self, names: Sequence[str]) -> dict[str, str]:
        found = await self.source.values(names)
        self.redactor.add(found.values())
        return found


async def stage_secrets(source: SecretSource, graph: Graph, node: Node) -> dict[str, str]:
    """The environment variables of the secrets ``node`` receives (the graph's and its own);
    MissingSecret when one is not set: the stage fails before anything runs."""
    names = graph.secrets_for(node)
    return await source.values(names) if names else {}
