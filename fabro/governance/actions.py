"""The vocabulary governance shares: an action a run is about to take on the host, who and
what it is taken for, and the decision a policy reaches about it.

The engine describes each side effect as an ``Action`` (engine/effects.py), the policy
decides on it (policy.py), and the receipt records both (storage/receipts.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

# command: a command stage's script; shell: an agent's shell tool call; file_write and
# file_read: an agent's file tools; network: a request a tool makes (no built-in tool makes
# one yet; the kind exists so that a policy can name it).
ActionKind = Literal["command", "shell", "file_write", "file_read", "network"]
ACTION_KINDS: tuple[ActionKind, ...] = ("command", "shell", "file_write", "file_read", "network")


@dataclass(frozen=True)
class Action:
    """One thing a run is about to do outside the database, as a policy sees it."""

    kind: ActionKind
    # The exact action as a person approving it reads it: the script, the tool call.
    text: str
    # The simple commands of a script (argv each), in order; empty for file and network.
    commands: tuple[tuple[str, ...], ...] = ()
    # A script with parts no static reading can see into ($(...), eval, bash -c, ...): only a
    # rule whose program is exactly "*" matches it (fail-closed).
    opaque: bool = False
    paths: tuple[str, ...] = ()  # absolute paths a file action touches
    url: str | None = None  # the request of a network action


@dataclass(frozen=True)
class Subject:
    """What an action is taken for: the run's workflow and the user who started it."""

    run_id: str
    workflow: str | None  # registry slug; None for submitted DOT
    user: str | None  # the principal that started the run; None for `fabro run`
    work_dir: str  # the run's working directory (rules may name paths under it)


class Verdict(IntEnum):
    """A policy's decision; a larger value is stricter, and the strictest matching rule wins."""

    ALLOW = 0
    ALERT = 1  # runs, and is flagged in events and receipts
    APPROVE = 2  # held until a person with the operator role approves it
    BLOCK = 3

    @property
    def label(self) -> str:
        return self.name


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    # The deciding rule's name; "default" when a policy is configured and no rule matched
    # (fail-closed), "" when no policy is configured (everything is allowed).
    rule: str

    @property
    def runs(self) -> bool:
        """True when the action may go ahead without a person (ALLOW, ALERT)."""
        return self.verdict <= Verdict.ALERT


NO_POLICY = Decision(Verdict.ALLOW, "")

Outcome = Literal["applied", "refused", "failed"]
OUTCOMES: tuple[Outcome, ...] = ("applied", "refused", "failed")
