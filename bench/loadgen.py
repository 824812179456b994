"""Load tools for `scripts/bench api`: server subprocesses, an HTTP load generator, SSE readers.

Everything talks to 127.0.0.1 only. The load generator is plain httpx (the same for every server
it measures); the SSE subscribers speak HTTP/1.1 over raw asyncio streams, because a thousand
httpx streams in one process would measure httpx more than the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

import fabro
from fabro.events.sse import FrameParser
from fabro.webhooks.events import (
    VARIANTS,
    fields_of,
    receipt_event_id,
    run_event_id,
    run_event_type,
)
from fabro.webhooks.signing import signature

READY_TIMEOUT_S = 30.0
LISTENING = "listening on "


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil without floats drifting
    return ordered[int(rank) - 1]


def rss_mb(pid: int) -> float:
    """VmRSS of a process in MB (from /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


@dataclass
class ServerProc:
    """A server subprocess whose first stdout lines announce `... listening on <url>`."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_dir: Path
    url: str = ""

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        parts = []
        for stream in ("stdout", "stderr"):
            path = self.log_dir / f"{self.name}.{stream}.log"
            if path.exists():
                parts.append(f"--- {stream} ---\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout_s)


def spawn(
    name: str,
    command: list[str],
    log_dir: Path,
    env: dict[str, str],
    port: int,
    *,
    announces: bool = True,
) -> ServerProc:
    """Start ``command``; wait until it accepts TCP (and printed its listening line, if it
    ``announces`` one; otherwise its URL is http://127.0.0.1:<port>)."""
    out = (log_dir / f"{name}.stdout.log").open("wb")
    err = (log_dir / f"{name}.stderr.log").open("wb")
    with out, err:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err)
    server = ServerProc(name, process, port, log_dir)
    if not announces:
        server.url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited early\n{server.output()}")
        if announces:
            text = (log_dir / f"{name}.stdout.log").read_text(errors="replace")
            for line in text.splitlines():
                if LISTENING in line:
                    server.url = line.split(LISTENING, 1)[1].split()[0]
        if server.url and _accepts(port):
            return server
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"{name} did not start in {READY_TIMEOUT_S:.0f} s\n{server.output()}")


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


# The benchmarks measure the server at full speed: limits no load here reaches, so that the
# counting still runs on every request (its cost is measured) but never answers 429.
UNLIMITED_RATES = (
    "[rate_limits]\nreads = 1000000000\nwrites = 1000000000\nrun_starts = 1000000000\n"
)


def child_env(home: Path) -> dict[str, str]:
    """The environment without FABRO_* and LLM provider settings (simulated backend)."""
    dropped = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FABRO_") and k not in dropped}
    env["HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    # The servers run the same fabro as this process, wherever it was started from.
    package_root = str(Path(fabro.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    return env


def python_command(*args: str) -> list[str]:
    return [sys.executable, *args]


# ---- HTTP load ---------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int
    seconds: float
    server_cpu_s: float  # CPU time the server spent meanwhile

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def per_cpu_second(self) -> float:
        """Requests per second of server CPU: the server's capacity, whoever was the bottleneck."""
        return self.requests / self.server_cpu_s if self.server_cpu_s > 0 else 0.0

    @property
    def server_busy(self) -> float:
        """Server CPU time over wall time (1.0 = one core saturated)."""
        return self.server_cpu_s / self.seconds if self.seconds > 0 else 0.0


async def measure_rps(
    url: str,
    path: str,
    *,
    server_pid: int,
    headers: dict[str, str],
    connections: int,
    duration_s: float,
    warmup_s: float = 0.5,
) -> LoadResult:
    """GET ``path`` in a loop on ``connections`` keep-alive connections for ``duration_s``.

    The server's CPU time is sampled around the measured phase, so the result also says what
    one server CPU-second buys, which stays meaningful when this client is the bottleneck.
    """
    # One client per connection: a shared httpx pool slows down as connections are added.
    clients = [
        httpx.AsyncClient(
            base_url=url, headers=headers, limits=httpx.Limits(max_connections=1), timeout=30
        )
        for _ in range(connections)
    ]

    async def hammer(client: httpx.AsyncClient, until: float) -> tuple[int, int]:
        done = errors = 0
        while time.perf_counter() < until:
            response = await client.get(path)
            if response.status_code == 200:
                done += 1
            else:
                errors += 1
        return done, errors

    async def phase(seconds: float) -> tuple[int, int, float]:
        started = time.perf_counter()
        until = started + seconds
        results = await asyncio.gather(*(hammer(client, until) for client in clients))
        took = time.perf_counter() - started
        return sum(r[0] for r in results), sum(r[1] for r in results), took

    try:
        await phase(warmup_s)  # open the connections, warm caches
        cpu_before = cpu_seconds(server_pid)
        done, errors, took = await phase(duration_s)
        cpu_used = cpu_seconds(server_pid) - cpu_before
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))
    return LoadResult(done, errors, took, cpu_used)


# ---- SSE subscribers ---------------------------------------------------------------------------


@dataclass
class Tally:
    """Counts of event variants over many subscribers, with a way to wait for a count."""

    counts: dict[str, int] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, variant: str) -> None:
        self.counts[variant] = self.counts.get(variant, 0) + 1
        self.changed.set()

    async def wait_for(self, variant: str, count: int, timeout_s: float = 60.0) -> None:
        deadline = time.perf_counter() + timeout_s
        while self.counts.get(variant, 0) < count:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                have = self.counts.get(variant, 0)
                raise TimeoutError(f"{have}/{count} {variant} events after {timeout_s:.0f} s")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self.changed.wait()


@dataclass(frozen=True)
class Arrival:
    seq: int
    variant: str
    data: str
    at: float  # time.perf_counter() when the frame was read


class SseSubscriber:
    """One `GET /runs/{id}/events` over a raw HTTP/1.1 connection; records every frame."""

    def __init__(self, port: int, path: str, token: str, tally: Tally | None = None) -> None:
        self.port = port
        self.path = path
        self.token = token
        self.tally = tally
        self.arrivals: list[Arrival] = []
        self.new_arrival = asyncio.Event()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._chunked = False
        self._task: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        """Open the connection and read the response head (200 expected)."""
        self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
        request = (
            f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Authorization: Bearer {self.token}\r\nAccept: text/event-stream\r\n\r\n"
        )
        self._writer.write(request.encode())
        await self._writer.drain()
        status = await self._reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(f"SSE request failed: {status!r}")
        while True:
            line = await self._reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "transfer-encoding" and "chunked" in value.lower():
                self._chunked = True

    def start(self) -> None:
        self._task = asyncio.create_task(self._read())

    async def _bodies(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive, one socket read at a time (chunked framing removed)."""
        assert self._reader is not None
        reader = self._reader
        buffer = b""
        while True:
            data = await reader.read(65536)
            if not data:
                return
            if not self._chunked:
                yield data
                continue
            buffer += data
            body, buffer, ended = _dechunk(buffer)
            if body:
                yield body
            if ended:
                return

    async def _read(self) -> None:
        parser = FrameParser()
        pending = ""
        with contextlib.suppress(ConnectionError):
            async for body in self._bodies():
                now = time.perf_counter()
                pending += body.decode()
                *lines, pending = pending.split("\n")
                for line in lines:
                    frame = parser.feed(line)
                    if frame is None or frame.seq is None:
                        continue
                    # Externally tagged: the variant is the first key, no JSON parse needed.
                    variant = frame.data[2 : frame.data.index('"', 2)]
                    self.arrivals.append(Arrival(frame.seq, variant, frame.data, now))
                    if self.tally is not None:
                        self.tally.add(variant)
                self.new_arrival.set()

    async def wait_for(self, variant: str, contains: str = "", timeout_s: float = 30.0) -> Arrival:
        """The first recorded frame of ``variant`` whose data contains ``contains``."""
        deadline = time.perf_counter() + timeout_s
        while True:
            for arrival in self.arrivals:
                if arrival.variant == variant and contains in arrival.data:
                    return arrival
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError(f"no {variant} {contains!r} on {self.path}")
            self.new_arrival.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self.new_arrival.wait()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()


def _dechunk(buffer: bytes) -> tuple[bytes, bytes, bool]:
    """Complete chunks of a chunked body: (their data, the unparsed rest, last chunk seen)."""
    body = bytearray()
    while True:
        line_end = buffer.find(b"\r\n")
        if line_end < 0:
            return bytes(body), buffer, False
        size = int(buffer[:line_end].split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            return bytes(body), b"", True
        start, end = line_end + 2, line_end + 2 + size
        if len(buffer) < end + 2:
            return bytes(body), buffer, False
        body += buffer[start:end]
        buffer = buffer[end + 2 :]


# ---- webhook receivers (`scripts/load --webhooks N`) ------------------------------------------


class WebhookSink:
    """One receiver on 127.0.0.1 for N subscriptions (``/hook/<i>``): it checks each delivery's
    signature and counts, per subscription, the events received (by body id) and the delivery
    ids seen for each, so that a lost or twice-queued event shows."""

    def __init__(self, count: int) -> None:
        self.secrets = [""] * count
        self.events: list[dict[str, set[str]]] = [{} for _ in range(count)]  # id -> deliveries
        self.bad_signatures = 0
        self.requests = 0
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                index = int(self.path.rsplit("/", 1)[-1])
                sink.receive(index, dict(self.headers), body)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, index: int) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook/{index}"

    def receive(self, index: int, headers: dict[str, str], body: bytes) -> None:
        stamp, _, given = headers.get("Fabro-Signature", "").partition(",v1=")
        timestamp = int(stamp.removeprefix("t=") or 0)
        good = abs(time.time() - timestamp) <= 300 and hmac.compare_digest(
            signature(self.secrets[index], timestamp, body), given
        )
        event_id = json.loads(body)["id"]
        with self.lock:
            self.requests += 1
            self.bad_signatures += not good
            self.events[index].setdefault(event_id, set()).add(headers["Fabro-Delivery"])

    def received(self) -> list[set[str]]:
        with self.lock:
            return [set(events) for events in self.events]

    def twice_queued(self) -> int:
        """Events that arrived under more than one delivery id (queued twice)."""
        with self.lock:
            return sum(len(ids) > 1 for events in self.events for ids in events.values())

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def webhook_event_ids(db_path: Path) -> set[str]:
    """Every event a subscription to every type is sent, read from a server's database."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        marks = ",".join("?" * len(VARIANTS))
        rows = conn.execute(
            "SELECT run_id, seq, variant, payload FROM run_events"
            f" WHERE child_depth = 0 AND variant IN ({marks})",
            list(VARIANTS),
        )
        ids = {
            run_event_id(run_id, seq)
            for run_id, seq, variant, payload in rows
            if run_event_type(variant, fields_of(variant, json.loads(payload)))
        }
        ids |= {receipt_event_id(seq) for (seq,) in conn.execute("SELECT seq FROM receipt_entries")}
        return ids
    finally:
        conn.close()
