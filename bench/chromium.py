"""Debian's Chromium as the bench and the browser tests launch it (through Playwright, whose
own browser download is never used): where it is, and the flags that keep it headless and
off the network (this machine's network is closed, and Chromium's background connections
would only fail, and slow every start)."""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = Path(os.environ.get("FABRO_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
