"""Ed25519 keys for JWT: loading (PEM or base64 of PEM), generation, and token minting."""

from __future__ import annotations

import base64
import binascii
import os
import time
from collections.abc import Mapping
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fabro import filemodes
from fabro.config import Settings
from fabro.errors import StartupError

PRIVATE_KEY_NAME = "jwt_ed25519.pem"
PRIVATE_KEY_ENV = "FABRO_JWT_PRIVATE_KEY"
PUBLIC_KEY_NAME = "jwt_ed25519.pub.pem"


class UnusableKeyError(Exception):
    """A key that cannot be read or is not an Ed25519 key; the message is the reason."""


def pem_text(value: str) -> bytes:
    """A PEM given as text: a value starting with `-----` is PEM, anything else is base64 of it."""
    stripped = value.strip()
    if stripped.startswith("-----"):
        return stripped.encode("ascii", "replace") + b"\n"
    try:
        return base64.b64decode(stripped, validate=False)
    except (binascii.Error, ValueError):
        raise UnusableKeyError("not a PEM text nor base64 of one") from None


def parse_public_key(pem: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from SubjectPublicKeyInfo PEM."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise UnusableKeyError("not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise UnusableKeyError("not an Ed25519 key")
    return key


def parse_private_key(pem: bytes) -> Ed25519PrivateKey:
    """An Ed25519 private key from unencrypted PKCS#8 PEM."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise UnusableKeyError("not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UnusableKeyError("not an Ed25519 key")
    return key


def read_key_file(path: Path) -> bytes:
    """The bytes of a key file, or UnusableKeyError with a short reason."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UnusableKeyError(exc.strerror or str(exc)) from None


def default_private_key_path(data_dir: Path) -> Path:
    return data_dir / "keys" / PRIVATE_KEY_NAME


def default_public_key_path(data_dir: Path) -> Path:
    return data_dir / "keys" / PUBLIC_KEY_NAME


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600 from the first byte (never world-readable)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode is filtered by the umask; fchmod is not
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_public_file(path: Path, data: bytes) -> None:
    """Write a public file with mode 0644."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o644)
    os.replace(tmp, path)


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) with mode 0700; an existing directory is left as it is."""
    filemodes.ensure_private_dir(path)


def ensure_key_pair(keys_dir: Path) -> Ed25519PrivateKey:
    """Reuse ``keys_dir``'s Ed25519 key pair or create it (private 0600, public 0644)."""
    ensure_private_dir(keys_dir)
    keys_dir.chmod(0o700)
    private_path = keys_dir / PRIVATE_KEY_NAME
    public_path = keys_dir / PUBLIC_KEY_NAME
    if private_path.exists():
        key = parse_private_key(read_key_file(private_path))
    else:
        key = Ed25519PrivateKey.generate()
        write_private_file(private_path, private_key_pem(key))
    if not public_path.exists():
        write_public_file(public_path, public_key_pem(key.public_key()))
    return key


def ensure_zero_config_keys(settings: Settings) -> None:
    """Zero-config first start (config-and-auth.md §5): data dir, keys dir and the key pair."""
    try:
        ensure_private_dir(settings.data_dir)
        ensure_key_pair(settings.keys_dir)
    except UnusableKeyError as exc:
        raise StartupError(f"cannot use {settings.keys_dir / PRIVATE_KEY_NAME}: {exc}") from None
    except OSError as exc:
        where = exc.filename or settings.keys_dir
        raise StartupError(f"cannot create {where}: {exc.strerror or exc}") from None


def mint_token(
    key: Ed25519PrivateKey,
    *,
    subject: str,
    issuer: str,
    ttl_s: int,
    audience: str | None = None,
    now: float | None = None,
    extra: Mapping[str, object] | None = None,
) -> str:
    """An EdDSA JWT with iss, sub, iat and exp (+ aud when given, + ``extra`` claims)."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, object] = {
        **(extra or {}),
        "iss": issuer,
        "sub": subject,
        "iat": issued,
        "exp": issued + ttl_s,
    }
    if audience is not None:
        claims["aud"] = audience
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"typ": "JWT"})
