"""The secrets key file, `<data_dir>/keys/secrets.key`: one line of base64, mode 0600 from its
first byte, written to a temporary file, flushed and renamed into place (fabro/filemodes.py).

A rotation writes the new key beside it as `secrets.key.next` first; the vault installs it
(a rename) once the database holds every value sealed under it (fabro/secrets/vault.py).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from fabro import filemodes
from fabro.secrets.box import SecretKey

KEY_NAME = "secrets.key"
NEXT_SUFFIX = ".next"


def key_path(data_dir: Path) -> Path:
    return data_dir / "keys" / KEY_NAME


def next_path(path: Path) -> Path:
    """Where a rotation keeps the new key until it is installed."""
    return path.with_name(path.name + NEXT_SUFFIX)


def read_key(path: Path) -> SecretKey | None:
    """The key in ``path``; None when there is no such file. OSError when it cannot be read,
    UnusableKey when it holds no key."""
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return None
    return SecretKey.from_text(text)


def create_key(path: Path) -> SecretKey:
    """The key of ``path``, made on first use: never replaces a key file that exists (two
    callers at once both end up with the one that was linked first)."""
    found = read_key(path)
    if found is not None:
        return found
    key = SecretKey.generate()
    temporary = _write_temporary(path, key)
    try:
        os.link(temporary, path)  # fails if it exists: a key that sealed values is never lost
    except FileExistsError:
        pass
    else:
        _sync_dir(path.parent)
    finally:
        temporary.unlink()
    found = read_key(path)
    assert found is not None
    return found


def write_key(path: Path, key: SecretKey) -> None:
    """Write ``key`` to ``path`` atomically (replacing what is there), flushed to disk."""
    temporary = _write_temporary(path, key)
    os.replace(temporary, path)
    _sync_dir(path.parent)


def install(source: Path, path: Path) -> None:
    """Rename ``source`` over ``path`` (one step: a crash leaves one or the other), flushed."""
    os.replace(source, path)
    _sync_dir(path.parent)


def discard(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    _sync_dir(path.parent)


def _write_temporary(path: Path, key: SecretKey) -> Path:
    filemodes.ensure_private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, filemodes.PRIVATE_FILE)  # the mode given to open is filtered by the umask
        os.write(fd, (key.text + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return temporary


def _sync_dir(folder: Path) -> None:
    """Make a rename or a link in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
