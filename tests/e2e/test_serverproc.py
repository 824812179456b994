"""The e2e harness's ports: outside the kernel's ephemeral range, one block per xdist worker."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.e2e.serverproc import FIRST_PORT, PORT_BLOCK, free_port


def ephemeral_range() -> range:
    path = Path("/proc/sys/net/ipv4/ip_local_port_range")
    low, high = (int(n) for n in path.read_text().split()) if path.exists() else (32768, 60999)
    return range(low, high + 1)


@pytest.mark.parametrize(("worker", "block"), [("gw0", 0), ("gw1", 1), ("gw5", 5), (None, 0)])
def test_each_worker_draws_a_bindable_port_from_its_own_block_below_the_ephemeral_range(
    monkeypatch: pytest.MonkeyPatch, worker: str | None, block: int
) -> None:
    if worker is None:
        monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    else:
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    low = FIRST_PORT + block * PORT_BLOCK
    for _ in range(20):
        port = free_port()
        assert low <= port < low + PORT_BLOCK
        assert port not in ephemeral_range()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_the_one_free_port_of_a_full_block_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw7")
    low = FIRST_PORT + 7 * PORT_BLOCK
    held = []
    try:
        for port in range(low, low + PORT_BLOCK):
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
