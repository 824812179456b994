"""Tests marked ``alone`` run while no other test does, when pytest-xdist runs the suite.

A test that times something against a budget (a /health probe under 100 ms, a loop that keeps
ticking) measures the machine as much as fabro when another worker's test competes for the
cores. Every test holds a shared lock while it runs (setup to teardown); an ``alone`` test
holds it exclusively, so it waits for the test running on each other worker to end, and they
wait for it before their next test. A second lock, the gate, keeps the other workers from
starting new tests while an ``alone`` test waits, so it is never starved.

The lock files live in the directory all workers of one run share (the parent of each one's
base temporary directory). Without xdist there is no other worker and nothing is locked.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

MARK = "alone"
MARK_HELP = f"{MARK}: timing-sensitive; under pytest-xdist it runs while no other test does"


def under_xdist() -> bool:
    return "PYTEST_XDIST_WORKER" in os.environ


@contextmanager
def _flock(path: Path, operation: int) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, operation)  # blocks until granted; closing the file releases it
        yield
    finally:
        os.close(fd)


@contextmanager
def holding(directory: Path, *, alone: bool) -> Iterator[None]:
    """Hold the run's lock for one test: exclusively when ``alone``, else shared."""
    gate, tests = directory / "alone-gate.lock", directory / "alone-tests.lock"
    if alone:
        with _flock(gate, fcntl.LOCK_EX), _flock(tests, fcntl.LOCK_EX):
            yield
        return
    with ExitStack() as held:
        with _flock(gate, fcntl.LOCK_SH):  # waits while an `alone` test waits or runs
            held.enter_context(_flock(tests, fcntl.LOCK_SH))
        yield
