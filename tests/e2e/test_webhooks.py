"""Webhooks across a crash: a real `fabro serve` is SIGKILLed while its deliveries are being
retried; restarted on the same data, it delivers every event once (deduplicated on
Fabro-Delivery: none missing, none queued twice), each signed as docs/webhooks.md says."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

from fabro.webhooks.events import (
    EVENT_TYPES,
    RUN_EVENT_TYPES,
    fields_of,
    receipt_event_id,
    run_event_id,
    run_event_type,
)
from tests.e2e.conftest import StartServer
from tests.e2e.runs_support import jwt_server, start_run, wait_for_status, wait_until
from tests.webhooks.receiver import receiver

ALL_TYPES = list(EVENT_TYPES)
# Two commands (four receipt entries) and the run's start and end.
WORK = """digraph Work {
  start [shape=Mdiamond]
  one [shape=parallelogram, script="echo one"]
  two [shape=parallelogram, script="echo two"]
  exit [shape=Msquare]
  start -> one -> two -> exit
}"""


def expected_event_ids(db_path: Path, run_id: str) -> set[str]:
    """What the run committed that a subscription to every type is sent, by event id."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        ids = set()
        marks = ",".join("?" * len(RUN_EVENT_TYPES))
        for seq, variant, payload in conn.execute(
            "SELECT seq, variant, payload FROM run_events WHERE run_id = ? AND child_depth = 0"
            f" AND variant IN ({marks})",
            [run_id, *RUN_EVENT_TYPES],
        ):
            if run_event_type(variant, fields_of(variant, json.loads(payload))):
                ids.add(run_event_id(run_id, seq))
        for (seq,) in conn.execute(
            "SELECT seq FROM receipt_entries WHERE receipt_id IN (SELECT receipt_id FROM"
            " receipt_entries WHERE run_id = ?)",
            [run_id],
        ):
            ids.add(receipt_event_id(seq))
        return ids
    finally:
        conn.close()


def test_every_event_arrives_once_after_a_sigkill_in_the_middle_of_the_retries(
    fabro_server: StartServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    healthy = threading.Event()  # until the server is killed, every attempt fails
    with receiver(lambda _id, _n: 200 if healthy.is_set() else 500) as hook:
        server, token = jwt_server(fabro_server, tmp_path / "first", data_dir)
        with server.client(token=token) as http:
            created = http.post("/webhooks", json={"url": hook.url, "event_types": ALL_TYPES})
            assert created.status_code == 201, created.text
            hook.secret = created.json()["secret"]
            run_id = start_run(http, WORK)
            wait_for_status(http, run_id, {"completed"})
            expected = expected_event_ids(data_dir / "fabro.db", run_id)
            assert len(expected) == 6  # started, completed, four receipt entries
            # Every delivery queued and failed at least once, some of them twice.
            wait_until(
                "every delivery to be retried",
                lambda: (
                    len(hook.attempts()) == len(expected) and max(hook.attempts().values()) >= 2
                ),
            )
        server.process.kill()  # SIGKILL: no shutdown of any kind
        server.process.wait(10)
        healthy.set()
        assert hook.accepted() == []

        restarted, token = jwt_server(fabro_server, tmp_path / "second", data_dir)
        wait_until("every event to be accepted", lambda: len(hook.accepted()) >= len(expected))
        with restarted.client(token=token) as http:
            log = http.get(f"/webhooks/{created.json()['id']}/deliveries").json()["data"]
        assert {entry["status"] for entry in log} == {"succeeded"}

    bodies = {item.delivery_id: json.loads(item.body) for item in hook.accepted()}
    assert sorted(body["id"] for body in bodies.values()) == sorted(expected)  # once each
    assert all(item.verified for item in hook.received)
    by_delivery: dict[str, set[str]] = {}
    for item in hook.received:  # a delivery's retries carry the same event
        by_delivery.setdefault(item.delivery_id, set()).add(json.loads(item.body)["id"])
    assert all(len(events) == 1 for events in by_delivery.values())
    assert len(by_delivery) == len(expected)
    secret = hook.secret
    for logs in (server.stdout + server.stderr, restarted.stdout + restarted.stderr):
        assert secret not in logs
