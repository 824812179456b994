"""The e2e harness's ports: outside the kernel's ephemeral range, one block per xdist worker."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.e2e.serverproc import (
    FIRST_PORT,
    PORT_BLOCK,
    PORT_BLOCKS,
    ephemeral_range,
    free_port,
    port_blocks,
)


@pytest.mark.parametrize(("worker", "block"), [("gw0", 0), ("gw1", 1), ("gw5", 5), (None, 0)])
def test_each_worker_draws_a_bindable_port_from_its_own_block_below_the_ephemeral_range(
    monkeypatch: pytest.MonkeyPatch, worker: str | None, block: int
) -> None:
    if worker is None:
        monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    else:
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    first, size = port_blocks(ephemeral_range())
    low = first + block * size
    for _ in range(20):
        port = free_port()
        assert low <= port < low + size
        assert port not in ephemeral_range()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_the_one_free_port_of_a_full_block_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw7")
    first, size = port_blocks(ephemeral_range())
    low = first + 7 * size
    held = []
    try:
        for port in range(low, low + size):
            sock = socket.socket()
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:  # in use already
                sock.close()
                continue
            held.append(sock)
        last = held.pop()
        free = last.getsockname()[1]
        last.close()
        assert free_port() == free
    finally:
        for sock in held:
            sock.close()


@pytest.mark.parametrize(
    ("low", "high", "first", "size"),
    [
        (32768, 60999, FIRST_PORT, PORT_BLOCK),  # Linux's default
        (49152, 65535, FIRST_PORT, PORT_BLOCK),  # macOS's
        (15000, 61000, 15000 - PORT_BLOCKS * PORT_BLOCK, PORT_BLOCK),  # room below, not at 20000
        (1024, 60999, 61000, (65535 - 60999) // PORT_BLOCKS),  # room only above
        (10000, 65535, 1024, (10000 - 1024) // PORT_BLOCKS),  # a little room below only
    ],
)
def test_the_blocks_stay_outside_a_machines_ephemeral_range(
    tmp_path: Path, low: int, high: int, first: int, size: int
) -> None:
    sysctl = tmp_path / "ip_local_port_range"
    sysctl.write_text(f"{low}\t{high}\n")
    ephemeral = ephemeral_range(sysctl)
    assert port_blocks(ephemeral) == (first, size)
    ports = range(first, first + PORT_BLOCKS * size)
    assert 1024 <= ports.start and ports.stop <= 65536
    assert not set(ports) & set(ephemeral)
