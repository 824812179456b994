"""A real webhook receiver on 127.0.0.1 (http.server in a thread) for the webhook tests.

It verifies each delivery with the snippet of docs/webhooks.md, records it, and answers as
its ``plan`` says for that delivery's n-th attempt: a status, or DROP (close the connection
without an answer).
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DOCS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
DROP = -1
Plan = Callable[[str, int], int]  # (delivery id, attempt number from 1) -> status or DROP


def documented_verify() -> Callable[..., bool]:
    """The ``verify`` function of the page's Python block, run as a reader would paste it."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS_PAGE.read_text(encoding="utf-8"), re.S)
    [snippet] = [block for block in blocks if "def verify(" in block]
    namespace: dict[str, Any] = {}
    exec(compile(snippet, str(DOCS_PAGE), "exec"), namespace)
    verify: Callable[..., bool] = namespace["verify"]
    return verify


@dataclass(frozen=True)
class Received:
    delivery_id: str
    attempt: int
    headers: dict[str, str]
    body: bytes
    verified: bool
    answered: int  # the status sent, or DROP


@dataclass
class Receiver:
    url: str
    secret: str = ""  # set once the webhook is created
    plan: Plan = field(default=lambda _id, _n: 200)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attempts(self) -> Counter[str]:
        with self.lock:
            return Counter(r.delivery_id for r in self.received)

    def accepted(self) -> list[Received]:
        """Deliveries answered 2xx, once each (deduplicated on Fabro-Delivery)."""
        with self.lock:
            seen: dict[str, Received] = {}
            for item in self.received:
                if 200 <= item.answered < 300:
                    seen.setdefault(item.delivery_id, item)
            return list(seen.values())

    def wait_for(self, what: str, probe: Callable[[], bool], timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not probe():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {self.received}")
            time.sleep(0.02)


@contextmanager
def receiver(plan: Plan | None = None) -> Iterator[Receiver]:
    verify = documented_verify()
    state: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            me = state[0]
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            delivery_id = self.headers.get("Fabro-Delivery", "")
            with me.lock:
                attempt = 1 + sum(1 for r in me.received if r.delivery_id == delivery_id)
            status = me.plan(delivery_id, attempt)
            verified = verify(me.secret, self.headers.get("Fabro-Signature", ""), body)
            if not verified:
                status = 400
            with me.lock:
                me.received.append(
                    Received(delivery_id, attempt, dict(self.headers), body, verified, status)
                )
            if status == DROP:
                self.close_connection = True
                return  # no answer: the client sees the connection close
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            answer = b"ok" if status < 300 else b"try again later"
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.append(Receiver(f"http://127.0.0.1:{server.server_address[1]}/hook"))
    if plan is not None:
        state[0].plan = plan
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state[0]
    finally:
        server.shutdown()
        server.server_close()
