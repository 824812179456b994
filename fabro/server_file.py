"""`<data_dir>/server.json`: where a local `fabro serve` listens, so the CLI can find it.

The server writes ``{"url": ..., "pid": ...}`` (mode 0600) once it listens and removes it on a
clean shutdown; a file left by a crash names a dead pid and is ignored. Clients never trust it
for more than a URL to try: credentials still come from the token or certificate.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from fabro.filemodes import PRIVATE_FILE

log = logging.getLogger(__name__)

FILE_NAME = "server.json"
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


@dataclass(frozen=True)
class ServerRecord:
    url: str
    pid: int


def server_file(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def listening_url(scheme: str, sock: socket.socket) -> str:
    """The URL a local client reaches a bound socket at (a wildcard address becomes loopback)."""
    host, port = sock.getsockname()[:2]
    host = _WILDCARDS.get(host, host)
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def write_server_file(data_dir: Path, url: str, pid: int) -> bool:
    """Record where this server listens (replaced atomically, owner-only); False when the file
    cannot be written, which costs only discovery: the server serves all the same."""
    path = server_file(data_dir)
    temporary = path.with_name(f".{FILE_NAME}.{pid}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
    data = (json.dumps({"url": url, "pid": pid}) + "\n").encode("utf-8")
    try:
        fd = os.open(temporary, flags, PRIVATE_FILE)
        try:
            os.fchmod(fd, PRIVATE_FILE)
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except OSError as exc:
        log.warning("cannot record where the server listens in %s: %s", path, exc.strerror or exc)
        with contextlib.suppress(OSError):
            temporary.unlink()
        return False
    return True


def remove_server_file(data_dir: Path, pid: int) -> None:
    """Remove the record if it is still this server's (another may have started since)."""
    path = server_file(data_dir)
    record = _read(path)
    if record is not None and record.pid == pid:
        path.unlink(missing_ok=True)


def read_server_file(data_dir: Path) -> ServerRecord | None:
    """The record of a server that is still running, else None (missing, malformed, dead pid)."""
    record = _read(server_file(data_dir))
    return record if record is not None and pid_alive(record.pid) else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    except OSError:
        return False
    return True


def _read(path: Path) -> ServerRecord | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    url, pid = data.get("url"), data.get("pid")
    if not isinstance(url, str) or not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return None
    return ServerRecord(url=url, pid=pid)
