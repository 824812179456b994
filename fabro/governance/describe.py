"""The actions the engine asks the policy about, described from what it is about to do.

``Action.text`` is what a person approving the action reads: the script or command exactly
as it will run, the file's path, the request's URL.
"""

from __future__ import annotations

import os

from fabro.governance.actions import Action, ActionKind
from fabro.governance.scripts import read_script


def command_action(script: str, language: str) -> Action:
    """A command stage's script (``shell`` or ``python``), as the stage runs it."""
    return _script_action("command", script, language)


def shell_action(command: str) -> Action:
    """A call of an agent's shell tool."""
    return _script_action("shell", command, "shell")


def _script_action(kind: ActionKind, text: str, language: str) -> Action:
    script = read_script(text, language)
    return Action(
        kind=kind,
        text=text,
        commands=script.commands,
        opaque=script.opaque,
        paths=script.writes,  # redirection targets as written; policy.py resolves them
    )


def file_action(kind: ActionKind, path: str) -> Action:
    """An agent's file tool reading or writing ``path`` (absolute)."""
    if kind not in ("file_write", "file_read"):
        raise ValueError(f"not a file action kind: {kind!r}")
    if not os.path.isabs(path):
        raise ValueError(f"a file action needs an absolute path (got {path!r})")
    return Action(kind=kind, text=path, paths=(os.path.normpath(path),))


def network_action(url: str) -> Action:
    """A request a tool makes to ``url``."""
    return Action(kind="network", text=url, url=url)
