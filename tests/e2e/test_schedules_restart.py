"""Schedules across a real restart (issue 19): fires fall due while `fabro serve` is down; the
restarted server applies each schedule's missed policy once (`run_once`: one run for the
latest missed fire; `skip`: no run, one history row saying how many), and a further restart
starts nothing again.

The downtime is made by moving the schedules' next fire three to four hours back in the
stopped server's database: to the restarted server, four hourly fires fell while it was down,
and the test does not wait for a clock (the ticker's own clock is injected in
tests/schedules/test_ticker.py).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import StartServer
from tests.e2e.runs_support import jwt_server, wait_for_status, wait_until

HELLO = """digraph Hello {
  start [shape=Mdiamond]
  greet [shape=parallelogram, script="echo hello"]
  exit [shape=Msquare]
  start -> greet -> exit
}
"""


def _history(http: httpx.Client, schedule_id: str) -> list[dict[str, Any]]:
    response = http.get(f"/workflows/hello/schedules/{schedule_id}/history")
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def _runs(http: httpx.Client) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = http.get("/workflows/hello/runs").json()["data"]
    return data


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def test_missed_fires_follow_the_policy_once_across_restarts(
    fabro_server: StartServer, tmp_path: Path
) -> None:
    workdir, data_dir = tmp_path / "server", tmp_path / "data"
    folder = data_dir / "workflows" / "hello"
    folder.mkdir(parents=True)
    (folder / "workflow.dot").write_text(HELLO, encoding="utf-8")

    # Hourly at the minute half an hour from now: no fire falls due while the test runs.
    now = datetime.now(UTC)
    minute = (now.minute + 30) % 60
    last_fire = now.replace(minute=minute, second=0, microsecond=0)
    if last_fire > now:
        last_fire -= timedelta(hours=1)

    server, token = jwt_server(fabro_server, workdir, data_dir)
    ids: dict[str, str] = {}
    with server.client(token=token) as http:
        for missed in ("run_once", "skip"):
            body = {"cron": f"{minute} * * * *", "missed": missed, "title": f"hourly {missed}"}
            created = http.post("/workflows/hello/schedules", json=body)
            assert created.status_code == 201, created.text
            ids[missed] = created.json()["id"]
    assert server.stop() == 0

    # Down for hours: the fires at last_fire and the three hours before it were missed.
    first_missed = last_fire - timedelta(hours=3)
    with sqlite3.connect(data_dir / "fabro.db") as db:
        db.execute("UPDATE schedules SET next_fire_at = ?", [_stamp(first_missed)])
    db.close()

    server, token = jwt_server(fabro_server, workdir, data_dir)
    with server.client(token=token) as http:
        ran = wait_until("the run_once fire", lambda: _history(http, ids["run_once"]), timeout_s=15)
        skipped = wait_until("the skip fire", lambda: _history(http, ids["skip"]), timeout_s=15)
        [fire] = ran
        assert fire["status"] == "started" and fire["scheduled_at"] == _stamp(last_fire)
        assert fire["missed_count"] == 4, fire
        [skip] = skipped
        assert skip["status"] == "skipped" and skip["run_id"] is None
        assert skip["missed_count"] == 4 and "skipped" in skip["detail"]
        [run] = _runs(http)
        assert run["id"] == fire["run_id"] and run["title"] == "hourly run_once"
        assert wait_for_status(http, run["id"], {"completed", "failed"})["status"] == "completed"
        schedule = http.get(f"/workflows/hello/schedules/{ids['run_once']}").json()
        assert schedule["next_fire_at"] == _stamp(last_fire + timedelta(hours=1))
    assert server.stop() == 0

    # Restarted again before the next fire: nothing is due, nothing starts twice.
    server, token = jwt_server(fabro_server, workdir, data_dir)
    with server.client(token=token) as http:
        assert len(_runs(http)) == 1
        assert len(_history(http, ids["run_once"])) == 1
        assert len(_history(http, ids["skip"])) == 1
