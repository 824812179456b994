"""The lock that runs `alone` tests while no other test runs (tests/alone.py), on real files.

flock locks belong to an open file, so threads that each open the lock files contend exactly
as two xdist workers do.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.alone import holding

DEADLINE_S = 10.0


class Holder:
    """A thread that holds the lock (alone or shared) until told to let go."""

    def __init__(self, directory: Path, *, alone: bool) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._hold, args=(directory, alone), daemon=True)
        self.thread.start()

    def _hold(self, directory: Path, alone: bool) -> None:
        with holding(directory, alone=alone):
            self.entered.set()
            self.release.wait(DEADLINE_S)

    def let_go(self) -> None:
        self.release.set()
        self.thread.join(DEADLINE_S)
        assert not self.thread.is_alive()


def until(what: str, probe: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not probe():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def gate_closed(directory: Path) -> bool:
    """Whether an `alone` test holds the gate (waiting for the others, or running)."""
    fd = os.open(directory / "alone-gate.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_an_alone_test_waits_for_the_running_ones_and_the_next_ones_wait_for_it(
    tmp_path: Path,
) -> None:
    first, second = Holder(tmp_path, alone=False), Holder(tmp_path, alone=False)
    until("two shared holders at once", lambda: first.entered.is_set() and second.entered.is_set())

    lonely = Holder(tmp_path, alone=True)
    until("the alone test to close the gate", lambda: gate_closed(tmp_path))
    later = Holder(tmp_path, alone=False)  # a test that starts while the alone one waits
    first.let_go()
    assert not lonely.entered.is_set()  # `second` still runs
    second.let_go()
    until("the alone test to run", lonely.entered.is_set)
    assert not later.entered.is_set()

    lonely.let_go()
    until("the next test to run", later.entered.is_set)
    later.let_go()
