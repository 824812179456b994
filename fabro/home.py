"""`~` in configured paths: the home of the environment the settings are loaded from.

Settings are built from an explicit ``env`` mapping (tests, the server, the CLI and the client
each pass theirs), so `~` must mean that mapping's ``HOME``, never the process's: otherwise a
server started with a given environment could read or write another user's ``~/.fabro``.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping
from pathlib import Path


def home_dir(env: Mapping[str, str]) -> Path:
    """``HOME`` from ``env``; without it the account's home, as a shell does (never the
    process's ``HOME``)."""
    if env.get("HOME"):
        return Path(env["HOME"])
    return Path(pwd.getpwuid(os.getuid()).pw_dir)


def expand_home(raw: str | Path, env: Mapping[str, str]) -> Path:
    """``raw`` with a leading `~` or `~/` replaced by ``home_dir(env)``. `~user` names that
    account's home; a `~name` with no such account stays a relative name."""
    text = str(raw)
    if text == "~" or text.startswith("~/"):
        return home_dir(env) / text[2:]
    if text.startswith("~"):
        return Path(os.path.expanduser(text))  # `~user`: the password database, not HOME
    return Path(text)
