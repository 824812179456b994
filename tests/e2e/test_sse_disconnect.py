"""Clients that drop an event stream mid-replay leave no trace in the server log.

Found by `scripts/load`: a client that reads a few frames of a long replay and disconnects made
the server write the rest of the replay batch to the dead socket, one write per frame without
yielding, and asyncio logged "socket.send() raised exception." for each write past the fifth
(hundreds of WARNING lines per dropped stream). The replay now sends one chunk per batch.
"""

from __future__ import annotations

import socket
import struct
import time
from itertools import pairwise
from pathlib import Path

from tests.e2e.conftest import StartServer
from tests.e2e.runs_support import jwt_server, start_run, wait_until

STAGES = 150  # ~600 stored events: more than one replay batch of 500


def long_workflow() -> str:
    nodes = [f"c{i}" for i in range(STAGES)]
    lines = ["digraph Long {", "  graph [max_node_visits=0]", "  start [shape=Mdiamond]"]
    lines += ["  exit [shape=Msquare]", '  gate [shape=hexagon, label="Done?"]']
    lines += [f"  {node} [shape=diamond]" for node in nodes]
    lines += [f"  {a} -> {b}" for a, b in pairwise(["start", *nodes, "gate", "exit"])]
    return "\n".join([*lines, "}"])


def drop_after_first_bytes(port: int, path: str, token: str) -> None:
    """Request the stream from the start, read a little, then reset the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            "Last-Event-ID: 0\r\n\r\n"
        )
        sock.sendall(request.encode())
        assert sock.recv(100).startswith(b"HTTP/1.1 200")
        # Linger 0: close() sends a reset at once, like a client killed mid-stream.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_dropped_replays_do_not_flood_the_log(fabro_server: StartServer, tmp_path: Path) -> None:
    server, token = jwt_server(fabro_server, tmp_path / "server", tmp_path / "data")
    with server.client(token=token) as http:
        run_id = start_run(http, long_workflow())
        wait_until(
            "the run to reach its gate",
            lambda: "pending_question" in http.get(f"/runs/{run_id}").json(),
        )
        for _ in range(5):
            drop_after_first_bytes(server.port, f"/runs/{run_id}/events", token)
        time.sleep(0.5)  # let the server notice the resets
        assert http.get(f"/runs/{run_id}").status_code == 200
    server.stop()
    assert "socket.send() raised exception" not in server.stderr, server.stderr[-2000:]
