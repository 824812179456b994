"""Owner-only folders and files in the data folder, whatever the umask.

The database holds every run's goal, outputs and answers, the keys folder the JWT signing key:
fabro creates its folders 0700 and its files 0600 (umask 000 and 022 included: a mode given
to mkdir or open is filtered by the umask, which can only take bits away, and a chmod
afterwards gives back the owner's own). SQLite creates a database's -wal and -shm with the
database file's mode, so a database file created 0600 keeps all three private.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_OTHERS = stat.S_IRWXG | stat.S_IRWXO


def ensure_private_dir(path: os.PathLike[str] | str) -> bool:
    """Create ``path`` and its missing parents with mode 0700; True when ``path`` was created.

    A folder that exists is left as it is (``others_can_enter`` tells whether it is private).
    """
    folder = Path(path)
    missing: list[Path] = []
    while not folder.is_dir():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    for created in reversed(missing):
        try:
            os.mkdir(created, PRIVATE_DIR)
        except FileExistsError:
            if not created.is_dir():
                raise
            continue  # made meanwhile by someone else: theirs
        os.chmod(created, PRIVATE_DIR)
    return bool(missing)


def create_private_file(path: os.PathLike[str] | str) -> bool:
    """Create ``path`` empty with mode 0600 unless it exists; True when it was created."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)
    return True


def loose_mode(path: os.PathLike[str] | str) -> int | None:
    """The mode of ``path`` when its group or others have any access to it, else None."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None
    return mode if mode & _OTHERS else None


def make_private(path: os.PathLike[str] | str) -> bool:
    """Take group's and others' access away from a file or folder fabro made and owns (made
    by an older version, or under a looser umask); the owner's bits stay as they are. True
    when its mode changed."""
    loose = loose_mode(path)
    if loose is None:
        return False
    try:
        if os.stat(path).st_uid != os.geteuid():
            return False  # someone else's: only they decide
        os.chmod(path, loose & ~_OTHERS)
    except OSError as exc:  # a read-only file system, say: it stays as it is
        log.warning("cannot make %s private: %s", path, exc.strerror or exc)
        return False
    log.info("made %s private (mode %04o, was %04o)", path, loose & ~_OTHERS, loose)
    return True
