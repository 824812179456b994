"""Start and stop a real `fabro serve` subprocess on 127.0.0.1 for end-to-end tests.

Typical use, through the ``fabro_server`` fixture of ``tests/e2e/conftest.py`` (which stops every
server it started in its finalizer)::

    server = fabro_server(config=SERVER_TOML, env={"FABRO_LOG": "debug"})
    with server.client(token=token) as http:
        assert http.get("/user").status_code == 200

``start_server`` can be used directly too; then call ``stop()`` in a ``finally``.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from fabro.auth.client import ClientSettings, http_client

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
LISTENING = "fabro server listening on "
# The last startup line (stderr): once it is out, the server's startup output is whole.
POLICY = "policy: "
REPO_ROOT = Path(__file__).resolve().parents[2]
FIRST_PORT, PORT_BLOCK, PORT_BLOCKS = 20000, 1000, 12  # ports 20000-31999, see port_blocks
_random = random.Random()  # its own: Hypothesis seeds the global one in its tests


class ServerStartError(RuntimeError):
    """The server exited or did not print its listening line in time (output attached)."""


def ephemeral_range(path: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> range:
    """The ports the kernel picks for outgoing connections and ``bind(0)``."""
    if path.exists():
        low, high = (int(n) for n in path.read_text().split())
    else:
        low, high = (49152, 65535) if sys.platform == "darwin" else (32768, 60999)
    return range(low, high + 1)


def port_blocks(ephemeral: range) -> tuple[int, int]:
    """The first port and the size of the per-worker blocks of ``free_port``: below the
    ephemeral range, or above it when a machine's range leaves less room below."""
    room_below, room_above = ephemeral.start - 1024, 65535 - ephemeral.stop + 1
    if room_below >= PORT_BLOCKS * PORT_BLOCK:
        return min(FIRST_PORT, ephemeral.start - PORT_BLOCKS * PORT_BLOCK), PORT_BLOCK
    if room_below >= room_above:
        return 1024, room_below // PORT_BLOCKS
    return ephemeral.stop, room_above // PORT_BLOCKS


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago, for a server to bind a moment later.

    Drawn outside the ephemeral range (``port_blocks``), where the kernel picks the local
    ports of outgoing connections and of ``bind(0)``: so none of the connections the tests
    make takes it in between. Each pytest-xdist worker draws from its own block, so two
    workers never race for one port."""
    first, size = port_blocks(ephemeral_range())
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    low = first + (int(worker) if worker.isdigit() else 0) % PORT_BLOCKS * size
    start = _random.randrange(size)  # two runs on one machine rarely try one port at once
    for offset in range(size):
        port = low + (start + offset) % size
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use (or a stopped server's port not yet released)
            return port
    raise RuntimeError(f"no free port in {low}-{low + size - 1}")


@dataclass
class ServerProcess:
    """A running `fabro serve`; stdout and stderr go to files that can be read at any time."""

    process: subprocess.Popen[bytes]
    url: str
    port: int
    workdir: Path
    stdout_path: Path
    stderr_path: Path
    ca: Path | None = None
    returncode: int | None = field(default=None, init=False)

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def client(
        self,
        *,
        token: str | None = None,
        cert: Path | None = None,
        key: Path | None = None,
        ca: Path | None = None,
        **kwargs: Any,
    ) -> httpx.Client:
        """An httpx client for this server (CA defaults to the one given at start)."""
        settings = ClientSettings(
            base_url=self.url,
            token=token,
            cert=cert,
            key=key,
            ca=ca or self.ca,
        )
        kwargs.setdefault("timeout", 10.0)
        return http_client(settings, **kwargs)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM, wait, then SIGKILL; safe to call twice. Returns the exit status."""
        if self.returncode is not None:
            return self.returncode
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout_s)
        self.returncode = self.process.returncode
        return self.returncode


def base_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ without FABRO_* variables, HOME moved to ``home``, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FABRO_")}
    env["HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def start_server(
    workdir: Path,
    *,
    config: str | None = None,
    data_dir: Path | None = None,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    ca: Path | None = None,
    ready_timeout_s: float = READY_TIMEOUT_S,
    port: int | None = None,
) -> ServerProcess:
    """Run `python -m fabro serve` in ``workdir`` on a free port and wait until it listens.

    ``config``: server.toml text, written to ``workdir/server.toml`` and passed with
    ``--config``; without it the server finds no configuration (HOME is ``workdir/home``) and
    starts in zero-config mode. ``data_dir`` defaults to ``workdir/data`` when a config is
    given, else to the zero-config default under the temporary HOME. ``ca`` is the CA the
    clients of :meth:`ServerProcess.client` trust by default.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    port = port or free_port()  # a given port: a restart where clients expect the server
    command = [sys.executable, "-m", "fabro", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port)]
    if config is not None:
        config_path = workdir / "server.toml"
        config_path.write_text(config, encoding="utf-8")
        command += ["--config", str(config_path)]
        data_dir = data_dir or workdir / "data"
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    command += list(args)

    stdout_path, stderr_path = workdir / "stdout.log", workdir / "stderr.log"
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=base_env(home, env), stdout=out, stderr=err
        )
    server = ServerProcess(
        process=process,
        url="",
        port=port,
        workdir=workdir,
        stdout_path=stdout_path,
        stderr_path=stderr_path,
        ca=ca,
    )
    try:
        server.url = _wait_until_listening(server, ready_timeout_s)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_until_listening(server: ServerProcess, timeout_s: float) -> str:
    """The URL of the listening line, once the port also accepts TCP connections and the
    startup lines are all out (so the server stops cleanly on SIGTERM from then on)."""
    deadline = time.monotonic() + timeout_s
    url: str | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerStartError(_failure("exited", server))
        if url is None:
            for line in server.stdout.splitlines():
                if line.startswith(LISTENING):
                    url = line.removeprefix(LISTENING).split()[0]
        if url is not None and _started(server) and _accepts(server.port):
            return url
        time.sleep(0.05)
    raise ServerStartError(_failure(f"not listening after {timeout_s:.0f} s", server))


def _started(server: ServerProcess) -> bool:
    return any(line.startswith(POLICY) for line in server.stderr.splitlines())


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _failure(what: str, server: ServerProcess) -> str:
    return (
        f"fabro serve {what} (status {server.process.poll()})\n"
        f"--- stdout ---\n{server.stdout}\n--- stderr ---\n{server.stderr}"
    )
