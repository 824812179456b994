"""Signing secrets sealed at rest under a key file of their own, `<data_dir>/keys/webhooks.key`.

fabro must read a signing secret to sign with it, so it is stored; sealed (PyNaCl's SecretBox,
as fabro/secrets/ seals secrets), a copy of the database alone (a backup, a file sent with a
bug report) reveals none. A key of its own, not the secrets' key: rotating that key
re-seals the secrets table in one transaction and would leave these unreadable.
"""

from __future__ import annotations

import base64
from pathlib import Path

from fabro.secrets.box import SecretKey
from fabro.secrets.keyfile import create_key, read_key

KEY_NAME = "webhooks.key"


def webhook_key_path(data_dir: Path) -> Path:
    return data_dir / "keys" / KEY_NAME


class KeyFileSealer:
    """Seals and opens signing secrets; the key file is made (0600) on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._key: SecretKey | None = None

    def preload(self) -> None:
        """Read the key if its file exists (blocking: for a thread, at startup); a server
        without webhooks makes no key file."""
        if self._key is None:
            self._key = read_key(self.path)

    def load(self) -> None:
        """Read or make the key (blocking: for a thread, before sealing the first secret)."""
        if self._key is None:
            self._key = create_key(self.path)

    def _loaded(self) -> SecretKey:
        self.load()
        assert self._key is not None
        return self._key

    def seal(self, plain: str) -> str:
        return base64.b64encode(self._loaded().seal(plain)).decode("ascii")

    def open(self, sealed: str) -> str:
        return self._loaded().open(base64.b64decode(sealed))
