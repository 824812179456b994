"""`fabro webhooks` as a real process against a real `fabro serve` delivering to a real local
receiver: create (the secret shown once), list, test, deliveries, redeliver, disable and
enable, show and rm, and the usage errors."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.cli_server import CliServer, cli_server


@dataclass
class Receiver:
    """A local HTTP receiver that answers 200 and keeps each POST's headers."""

    url: str
    received: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    got: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            got.append(dict(self.headers.items()))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(f"http://127.0.0.1:{http.server_address[1]}/hook", got)
    finally:
        http.shutdown()
        http.server_close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webhooks]:
    with cli_server(tmp_path_factory.mktemp("webhooks-cli"), "webhooks") as served:
        yield Webhooks(served.server, served.token, served.group)


class Webhooks(CliServer):
    def json(self, *args: str) -> Any:
        done = self.fabro(*args, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


def _until(check: Any, timeout_s: float = 15) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return found


def test_a_subscription_from_creation_to_removal(served: Webhooks, receiver: Receiver) -> None:
    made = served.fabro("create", receiver.url, "--event", "run.completed", "--event", "run.failed")
    assert made.returncode == 0, made.stderr
    hook_id = made.stdout.strip()
    assert "shown only now" in made.stderr and "whsec_" in made.stderr
    assert "whsec_" not in made.stdout

    listed = served.fabro("list")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == ["ID", "STATE", "EVENTS", "WORKFLOW", "URL"]
    assert row.split() == [hook_id, "enabled", "run.completed,run.failed", "-", receiver.url]
    assert "whsec_" not in json.dumps(served.json("list"))

    ping = served.fabro("test", hook_id)
    assert ping.returncode == 0, ping.stderr
    delivery_id = ping.stdout.strip()

    def delivered() -> list[Any]:
        items = served.json("deliveries", hook_id)
        return [d for d in items if d["id"] == delivery_id and d["status"] == "succeeded"]

    _until(delivered)
    assert any(h.get("Fabro-Delivery") == delivery_id for h in receiver.received)
    table = served.fabro("deliveries", hook_id).stdout.splitlines()
    assert table[0].split() == ["ID", "CREATED", "EVENT", "STATUS", "ATTEMPTS", "LAST"]
    assert table[1].split()[2:] == ["ping", "succeeded", "1", "HTTP", "200"]

    again = served.fabro("redeliver", hook_id, delivery_id)
    assert again.returncode == 0 and again.stdout.startswith(f"{delivery_id}: "), again.stderr
    _until(lambda: sum(h.get("Fabro-Delivery") == delivery_id for h in receiver.received) == 2)

    assert served.fabro("disable", hook_id).stdout.strip() == f"{hook_id}: disabled"
    shown = served.fabro("show", hook_id)
    assert json.loads(shown.stdout)["enabled"] is False
    assert served.fabro("enable", hook_id).stdout.strip() == f"{hook_id}: enabled"

    assert served.fabro("rm", hook_id).stdout.strip() == f"{hook_id}: deleted"
    gone = served.fabro("show", hook_id)
    assert gone.returncode != 0 and "not found" in gone.stderr.lower()
    assert served.json("list") == []


def test_created_as_json_holds_the_secret_once(served: Webhooks, receiver: Receiver) -> None:
    made = served.json(
        "create", receiver.url, "--event", "run.started", "--workflow", "nightly",
        "--label", "team=web",
    )  # fmt: skip
    assert made["secret"].startswith("whsec_")
    assert made["workflow"] == "nightly" and made["labels"] == {"team": "web"}
    shown = json.loads(served.fabro("show", made["id"]).stdout)
    assert "secret" not in shown and shown["id"] == made["id"]
    assert served.fabro("rm", made["id"]).returncode == 0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("create", "http://127.0.0.1:9/h"), "Missing option '--event'"),
        (("create", "http://127.0.0.1:9/h", "--event", "run.exploded"), "run.exploded"),
        (("create", "http://127.0.0.1:9/h", "--event", "run.failed", "--label", "x"), "--label"),
        (("create", "ftp://example.com/h", "--event", "run.failed"), "url"),
    ],
)
def test_a_wrong_request_is_a_usage_error_that_names_it(
    served: Webhooks, args: tuple[str, ...], says: str
) -> None:
    done = served.fabro(*args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert says in done.stderr
