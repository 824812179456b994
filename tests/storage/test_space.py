"""Running out of space (fabro/storage/space.py): what counts as "disk full", and how a
background loop that tries again logs it."""

from __future__ import annotations

import errno
import logging
import sqlite3

import pytest

from fabro.errors import InsufficientStorage
from fabro.storage.space import is_disk_full, log_retried_failure


def sqlite_error(message: str, code: int) -> sqlite3.OperationalError:
    """The error SQLite raises with ``code`` (as its sqlite_errorcode)."""
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = code
    return error


@pytest.mark.parametrize(
    ("failure", "full"),
    [
        (sqlite_error("database or disk is full", sqlite3.SQLITE_FULL), True),
        (OSError(errno.ENOSPC, "No space left on device"), True),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), True),
        (sqlite_error("database is locked", sqlite3.SQLITE_BUSY), False),
        (OSError(errno.EACCES, "Permission denied"), False),
    ],
)
def test_disk_full_is_sqlite_full_or_no_space(failure: BaseException, full: bool) -> None:
    assert is_disk_full(failure) is full


@pytest.mark.parametrize(
    "failure",
    [
        InsufficientStorage("disk full: the change was not stored"),
        sqlite_error("database or disk is full", sqlite3.SQLITE_FULL),
        OSError(errno.ENOSPC, "No space left on device"),
    ],
)
def test_a_background_loop_logs_a_full_disk_as_one_warning_line(
    failure: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("fabro.test.space")
    try:
        raise failure
    except Exception:
        log_retried_failure(logger, "pass %s failed; trying again", 7)
    (record,) = caplog.records
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage() == f"pass 7 failed; trying again: {failure}"


def test_any_other_failure_is_logged_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("fabro.test.space")
    try:
        raise ValueError("a bug")
    except Exception:
        log_retried_failure(logger, "pass failed; trying again")
    (record,) = caplog.records
    assert record.levelno == logging.ERROR and record.exc_info is not None
