"""Running out of space: which failures mean "disk full", and the probe that says it is over.

A write that fails for lack of space is not the writer's fault nor the data's: it is refused
whole (507 to a client) and may succeed later. SQLite reports it as SQLITE_FULL ("database
or disk is full"); files written beside the database fail with ENOSPC, or EDQUOT over a quota.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import sys
from typing import TYPE_CHECKING

from fabro.errors import InsufficientStorage

if TYPE_CHECKING:
    from fabro.storage.db import Database
    from fabro.storage.writer import WriteTx

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
DISK_FULL_DETAIL = "disk full: the change was not stored; try again once space is freed."
# Free space the probe wants before it calls the disk writable again: enough for a few
# stages' commits, so that runs resumed on a disk still nearly full do not fail again at once.
HEADROOM_BYTES = 1 << 20
# What the probe commits: a table it drops again, with a blob that takes new pages.
PROBE_BYTES = 64 * 1024


def is_disk_full(exc: BaseException) -> bool:
    """True when ``exc`` is a write that failed for lack of space."""
    if isinstance(exc, InsufficientStorage):
        return True
    if isinstance(exc, OSError):
        return exc.errno in DISK_FULL_ERRNOS
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    return False


def classified(exc: BaseException) -> BaseException:
    """``exc``, or the InsufficientStorage it stands for (chained to it)."""
    if isinstance(exc, InsufficientStorage) or not is_disk_full(exc):
        return exc
    refused = InsufficientStorage(DISK_FULL_DETAIL)
    refused.__cause__ = exc
    return refused


def has_headroom(path: str) -> bool:
    """True unless the file system holding ``path`` has less than HEADROOM_BYTES free."""
    try:
        stat = os.statvfs(os.path.dirname(os.path.abspath(path)))
    except OSError:
        return True  # nothing to tell: the write probe decides
    return stat.f_bavail * stat.f_frsize >= HEADROOM_BYTES


def _probe(tx: WriteTx) -> None:
    tx.execute("CREATE TABLE fabro_space_probe (data BLOB)")
    tx.execute("INSERT INTO fabro_space_probe VALUES (zeroblob(?))", [PROBE_BYTES])
    tx.execute("DROP TABLE fabro_space_probe")


async def writable(db: Database) -> bool:
    """True when the database takes a commit of some size again (and its disk has room)."""
    if not db.in_memory and not has_headroom(db.path):
        return False
    try:
        await db.write(_probe)
    except InsufficientStorage:
        return False
    return True


def log_retried_failure(logger: logging.Logger, message: str, *args: object) -> None:
    """Log the failure being handled by a background loop that tries again later.

    A full disk is a state the server waits out (the writes are refused whole, nothing is
    lost): one warning line. Anything else is a surprise: an error with its traceback.
    """
    failure = sys.exc_info()[1]
    if failure is not None and is_disk_full(failure):
        logger.warning(message + ": %s", *args, failure)
    else:
        logger.exception(message, *args)
