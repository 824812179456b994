"""Startup checks: the data folder and the database can be written, or one line says why.

A server started on a read-only database or data folder would look healthy and then answer
500 to every write. These checks run before it listens and turn that into one `error:` line
and a non-zero exit (StartupError); a full disk is only a warning, since runs wait for room
on their own (fabro.engine.scheduler).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import tempfile
from pathlib import Path

from fabro import filemodes
from fabro.errors import InsufficientStorage, StartupError
from fabro.storage import space
from fabro.storage.db import Database
from fabro.storage.writer import WriteTx

log = logging.getLogger(__name__)

RUNS_DIR = "runs"


def prepare_data_dir(data_dir: Path) -> None:
    """The data folder and its runs folder, owner-only when fabro creates them, writable.

    A data folder that exists is not changed (it may be someone's shared mount): a warning
    says when other users can enter it. The runs folder is fabro's own: it is made private.
    """
    runs = data_dir / RUNS_DIR
    try:
        created = filemodes.ensure_private_dir(data_dir)
        filemodes.ensure_private_dir(runs)
    except OSError as exc:
        where = exc.filename or data_dir
        raise StartupError(f"cannot create data folder {where}: {exc.strerror or exc}") from None
    mode = None if created else filemodes.loose_mode(data_dir)
    if mode is not None:
        log.warning(
            "data folder %s is open to other users (mode %04o); `chmod 700 %s` closes it",
            data_dir,
            mode,
            data_dir,
        )
    filemodes.make_private(runs)
    for folder in (data_dir, runs):
        _check_writable(folder)


def _check_writable(folder: Path) -> None:
    try:
        fd, name = tempfile.mkstemp(prefix=".fabro-check-", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        if space.is_disk_full(exc):
            log.warning("disk full at %s: runs wait until space is freed", folder)
            return
        raise StartupError(f"data folder {folder} is not writable: {exc.strerror or exc}") from None


def _rewrite_version(tx: WriteTx) -> None:
    """A real write that changes nothing: the schema version, set to itself."""
    row = tx.fetchone("PRAGMA user_version")
    tx.execute(f"PRAGMA user_version = {int(row[0]) if row else 0}")


async def open_database(path: Path) -> Database:
    """The database, opened, migrated and shown to take a write."""
    try:
        db = await Database.open(path)
    except (sqlite3.Error, OSError, InsufficientStorage) as exc:
        raise StartupError(f"cannot open database {path}: {_reason(exc)}") from None
    try:
        await db.write(_rewrite_version)
    except InsufficientStorage:
        log.warning("disk full at %s: runs wait until space is freed", path)
    except (sqlite3.Error, OSError) as exc:
        await db.close()
        raise StartupError(f"database {path} is not writable: {_reason(exc)}") from None
    else:
        if not space.has_headroom(str(path)):
            log.warning("the disk of %s is nearly full: runs wait when it is", path)
    return db


def _reason(exc: BaseException) -> str:
    if isinstance(exc, InsufficientStorage):
        return "disk full"
    if isinstance(exc, OSError):
        return str(exc.strerror or exc)
    return str(exc)
