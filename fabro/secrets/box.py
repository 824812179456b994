"""The secrets key and sealing under it: PyNaCl's SecretBox (XSalsa20-Poly1305, a random
24-byte nonce per value), so a value cannot be read nor changed without the key."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

import nacl.exceptions
import nacl.secret
import nacl.utils

KEY_BYTES = nacl.secret.SecretBox.KEY_SIZE  # 32


class UnusableKey(Exception):
    """A key file's text that is not a key; the message says why."""


class CannotOpen(Exception):
    """A sealed value that this key did not seal, or that was changed."""


@dataclass(frozen=True, repr=False)
class SecretKey:
    """A secrets key. ``id`` names it in the rows it sealed: a digest, which reveals nothing
    of the key. ``repr`` never shows the key (a traceback or a log line may print it)."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != KEY_BYTES:
            raise UnusableKey(f"a key is {KEY_BYTES} bytes, not {len(self.raw)}")

    def __repr__(self) -> str:
        return f"SecretKey(id={self.id})"

    @classmethod
    def generate(cls) -> SecretKey:
        return cls(nacl.utils.random(KEY_BYTES))

    @classmethod
    def from_text(cls, text: str) -> SecretKey:
        """The key a key file holds: its base64 text (one line)."""
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise UnusableKey("not base64 text") from None
        return cls(raw)

    @property
    def text(self) -> str:
        """The key as its file holds it (and as the redactor looks for it)."""
        return base64.b64encode(self.raw).decode("ascii")

    @property
    def id(self) -> str:
        return hashlib.blake2b(self.raw, digest_size=8, person=b"fabro-secretkey").hexdigest()

    def seal(self, value: str) -> bytes:
        """``value`` encrypted and authenticated: the nonce, then the ciphertext."""
        return bytes(nacl.secret.SecretBox(self.raw).encrypt(value.encode("utf-8")))

    def open(self, sealed: bytes) -> str:
        """The value ``seal`` sealed; CannotOpen when this key did not seal it (or it changed)."""
        try:
            return nacl.secret.SecretBox(self.raw).decrypt(sealed).decode("utf-8")
        except (nacl.exceptions.CryptoError, UnicodeDecodeError, ValueError):
            raise CannotOpen("the value cannot be opened with this key") from None
