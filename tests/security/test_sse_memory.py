"""Finding 13: what an SSE subscriber costs is bounded, flat in their number, and freed.

A real Hypercorn serves the app in this event loop; raw-socket clients in a thread follow one
run's event stream from its first event (a replay), then live through a burst of events, then
hang up. tracemalloc measures the Python memory the server holds per connected subscriber and
after they left. Each subscriber used to keep the whole run (source and parsed graph) and its
last replay batch (up to 500 parsed events) for as long as it stayed connected.
"""

from __future__ import annotations

import asyncio
import gc
import selectors
import socket
import threading
import tracemalloc
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import httpx
import pytest
from hypercorn.asyncio.run import worker_serve
from hypercorn.utils import wrap_app

from fabro.api.streams import CHUNK_BYTES, REPLAY_BATCH, replay_then_live
from fabro.app import create_app
from fabro.config import Settings
from fabro.events.bus import EventBus
from fabro.server import hypercorn_config
from fabro.services import Services

STAGES = 30
PADDING = "p" * 2_000  # a graph of ~60 KB, as workflows with long prompts have
KB = 1024


def workflow() -> str:
    nodes = [f"c{i}" for i in range(STAGES)]
    lines = ["digraph Burst {", "  start [shape=Mdiamond]", "  exit [shape=Msquare]"]
    lines += ['  first [shape=hexagon, label="Go?"]', '  second [shape=hexagon, label="Done?"]']
    lines += [f'  {node} [shape=diamond, note="{PADDING}"]' for node in nodes]
    lines += [f"  {a} -> {b}" for a, b in pairwise(["start", "first"])]
    lines += [f'  first -> {nodes[0]} [label="[G] Go"]']
    lines += [f"  {a} -> {b}" for a, b in pairwise([*nodes, "second"])]
    lines += ['  second -> exit [label="[D] Done"]']
    return "\n".join([*lines, "}"])


@dataclass
class Clients:
    """N raw-socket subscribers in a thread, each counting the frames it has read."""

    port: int
    request: bytes
    count: int
    frames: list[int] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.frames = [0] * self.count
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        sockets = []
        tails = [b""] * self.count
        for index in range(self.count):
            sock = socket.create_connection(("127.0.0.1", self.port))
            sock.sendall(self.request)
            sock.setblocking(False)
            sockets.append(sock)
            selector.register(sock, selectors.EVENT_READ, index)
        while not self.stop.is_set():
            for key, _ in selector.select(0.05):
                try:
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                index = key.data
                # Frames end with a blank line; one may straddle two reads.
                joined = tails[index] + data
                self.frames[index] += joined.count(b"\n\n") - tails[index].count(b"\n\n")
                tails[index] = data[-1:]
        for sock in sockets:
            sock.close()
        selector.close()

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(10)


@dataclass
class Server:
    port: int
    services: Services
    http: httpx.AsyncClient
    token: str


@pytest.fixture
async def server(
    settings: Settings, services: Services, auth_headers: dict[str, str]
) -> AsyncIterator[Server]:
    app = create_app(settings, services)
    config = hypercorn_config(settings)
    config.bind = ["127.0.0.1:0"]
    sockets = config.create_sockets()
    (listener,) = sockets.insecure_sockets
    listener.listen(512)
    port = listener.getsockname()[1]
    stop = asyncio.Event()
    serving = asyncio.create_task(
        worker_serve(
            wrap_app(app, config.wsgi_max_body_size, None),
            config,
            sockets=sockets,
            shutdown_trigger=stop.wait,  # type: ignore[arg-type]
        )
    )
    base_url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base_url, headers=auth_headers, timeout=30) as http:
        token = auth_headers["Authorization"].removeprefix("Bearer ")
        yield Server(port, services, http, token)
    stop.set()
    await serving


async def until(what: str, probe: Callable[[], Any], limit_s: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + limit_s
    while not await probe():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def question_of(server: Server, run_id: str) -> str | None:
    page = (await server.http.get(f"/runs/{run_id}/questions")).json()
    return page["data"][0]["id"] if page["data"] else None


@dataclass(frozen=True)
class Measured:
    connected_per_sub: float  # held while every subscriber is connected and idle
    peak_per_sub: float  # the highest point, during replay and the live burst
    after: float  # left once all of them hung up


async def follow_a_run(server: Server, count: int) -> Measured:
    """``count`` subscribers replay a run, follow a burst of events live, and hang up."""
    run_id = (await server.http.post("/runs", json={"dot_source": workflow()})).json()["id"]
    await until("the first gate", lambda: question_of(server, run_id))
    store, bus = server.services.store, server.services.runs.bus
    gc.collect()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]

    request = (
        f"GET /runs/{run_id}/events HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {server.token}\r\nLast-Event-ID: 0\r\n\r\n"
    ).encode()
    clients = Clients(server.port, request, count)
    clients.start()
    try:

        async def all_read() -> bool:
            last = await store.last_seq(run_id)
            return bus.subscriber_count(run_id) == count and min(clients.frames) >= last

        await until("every subscriber to replay the run", all_read)
        first = await question_of(server, run_id)
        answer = {"selected_option_key": "G"}
        await server.http.post(f"/runs/{run_id}/questions/{first}/answer", json=answer)
        await until("the second gate", lambda: _waits_at_second(server, run_id, first))
        await until("every subscriber to read the burst", all_read)
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        clients.close()

    async def all_gone() -> bool:
        return bus.subscriber_count(run_id) == 0

    await until("the bus to drop every subscriber", all_gone, limit_s=10)
    await asyncio.sleep(0.2)  # the responses' last tasks finish
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    return Measured((current - base) / count, (peak - base) / count, after - base)


async def _waits_at_second(server: Server, run_id: str, first: str | None) -> bool:
    question = await question_of(server, run_id)
    return question is not None and question != first


async def test_subscriber_memory_is_bounded_flat_and_freed(server: Server) -> None:
    tracemalloc.start(1)
    try:
        await follow_a_run(server, 10)  # warm up: imports, caches, first-use allocations
        small = await follow_a_run(server, 50)
        large = await follow_a_run(server, 200)
    finally:
        tracemalloc.stop()
    report = f"50: {small}; 200: {large}"
    print(report)
    # Measured: about 35 KB per connected subscriber (Quart's request, Hypercorn's connection,
    # the last chunk sent); it was over 200 KB with this run's graph.
    assert large.connected_per_sub < 100 * KB, report
    assert small.connected_per_sub < 100 * KB, report
    assert large.connected_per_sub < small.connected_per_sub * 1.25 + 8 * KB, report
    assert large.peak_per_sub < small.peak_per_sub * 1.25 + 16 * KB, report
    assert large.after < 2 * 1024 * KB, report


@dataclass(frozen=True)
class Record:
    seq: int


async def test_replays_and_bursts_go_out_in_bounded_pieces() -> None:
    """Reads of at most REPLAY_BATCH records, writes of about CHUNK_BYTES, gaps in batches."""
    frame_size = 1000
    stored = [Record(seq) for seq in range(1, 2_001)]
    reads: list[int] = []

    async def read_after(after: int, limit: int) -> list[Record]:
        reads.append(limit)
        return stored[after : after + limit]

    def encode(record: Record) -> bytes:
        return f"id: {record.seq}\n".encode().ljust(frame_size - 1, b"x") + b"\n"

    bus: EventBus[Record] = EventBus()
    subscription = bus.subscribe("run")
    frames = replay_then_live(subscription, 0, read_after=read_after, encode=encode)
    chunks: list[bytes] = []

    async def read_through(seq: int) -> None:
        while sum(map(len, chunks)) < seq * frame_size:
            chunks.append(await asyncio.wait_for(anext(frames), 5))

    await read_through(2_000)
    # Published after 1,000 more were stored: a gap filled from the store, then the burst.
    stored += [Record(seq) for seq in range(2_001, 3_001)]
    bus.publish("run", 3_000, stored[-1])
    await read_through(3_000)
    await frames.aclose()
    assert max(reads) <= REPLAY_BATCH
    assert all(len(chunk) <= CHUNK_BYTES + frame_size for chunk in chunks)
    assert b"".join(chunks) == b"".join(encode(record) for record in stored)
    assert bus.subscriber_count() == 0
