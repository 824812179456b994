"""Sealing under the secrets key for another area that keeps a secret it must read back (a
webhook's signing secret): text that names its key, `<key id>.<base64>`.

Such an area adds its column to ``fabro.storage.secrets.SEALED_COLUMNS`` (``key_id=None``: the
text names its key), so that a key rotation re-seals its values with the vault's own.
"""

from __future__ import annotations

from fabro.secrets.box import CannotOpen
from fabro.secrets.vault import Vault
from fabro.storage.secrets import parse_sealed_text, sealed_text


class KeySealer:
    """``seal`` and ``open`` text with the vault's key; the key file is made on first use."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault

    def seal(self, plain: str) -> str:
        key = self._vault.key_now()
        return sealed_text(key.seal(plain), key.id)

    def open(self, sealed: str) -> str:
        """The text ``seal`` sealed; CannotOpen (fabro.secrets.box) when it cannot be."""
        try:
            data, key_id = parse_sealed_text(sealed)
        except ValueError:
            raise CannotOpen("not a sealed text") from None
        return self._vault.key_now(key_id).open(data)
